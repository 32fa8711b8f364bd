/**
 * How the Lua scripts are written and registered. A script is a module of its own that opens with
 * named locals for its KEYS and ARGV (`slots`), so it reads on its own; the same slot lists give
 * the order of the arguments the TypeScript side passes (`args`), so the two cannot drift apart.
 * Each script is registered once per connection with `defineCommand` (EVALSHA, and EVAL after a
 * NOSCRIPT); the commands are typed by augmenting ioredis' RedisCommander (./commands.ts).
 */
import type { Cluster, Redis, RedisValue } from 'ioredis'

export interface Script {
  /** the command name on the client */
  name: string
  numberOfKeys: number
  lua: string
}

/** A named KEYS or ARGV entry: its Lua local and what it holds. */
export interface Slot<Name extends string = string> { name: Name, doc: string }

/**
 * `local <name> = KEYS[i]` / `ARGV[i]` for each slot, with the slot's doc as a comment: the
 * opening of every script.
 */
export function locals (keys: readonly Slot[], argv: readonly Slot[]): string {
  const lines = [
    ...keys.map((s, i) => `local ${s.name} = KEYS[${i + 1}] -- ${s.doc}`),
    ...argv.map((s, i) => `local ${s.name} = ARGV[${i + 1}] -- ${s.doc}`)
  ]
  return lines.join('\n') + '\n'
}

/** The values for `slots`, in slot order; a slot without a value is a bug, and throws. */
export function args<Name extends string> (slots: ReadonlyArray<Slot<Name>>, values: Partial<Record<Name, RedisValue>>): RedisValue[] {
  return slots.map(s => {
    const v = values[s.name]
    if (v === undefined) throw new Error(`no value for the script argument ${s.name}`)
    return v
  })
}

/** Registers the scripts on a connection, once (the gated client forwards defineCommand). */
export function defineScripts (client: Redis | Cluster, scripts: readonly Script[]): void {
  for (const s of scripts) {
    if (!(s.name in client)) client.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua })
  }
}
