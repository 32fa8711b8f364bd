/**
 * How the Lua scripts are written and registered. A script is a module of its own that opens with
 * named locals for its KEYS and ARGV (`slots`), so it reads on its own; the same slot lists give
 * the order of the arguments the TypeScript side passes (`args`), so the two cannot drift apart.
 * Each script is a method of the connection that sends EVALSHA (and EVAL after a NOSCRIPT: a
 * Redis that restarted, or a node that was promoted); the commands are typed by augmenting
 * ioredis' RedisCommander (./commands.ts).
 *
 * Not ioredis' own `defineCommand` scripts: ioredis copies every defined script onto each
 * pipeline it creates, and with auto-pipelining that is a pipeline per event-loop turn that sends
 * a command — with this project's ~35 scripts, about 45 µs per pipeline (measured: 61 µs vs 16
 * µs for `new Pipeline` with 35 scripts vs none), i.e. per message at low rates. EVALSHA is a
 * built-in command, so it is auto-pipelined like any other and a pipeline copies nothing.
 */
import { createHash } from 'node:crypto'
import type { Cluster, Redis, RedisValue } from 'ioredis'

export interface Script {
  /** the command name on the client */
  name: string
  /** absent: the script takes any number of keys, and the caller passes their count first (EVALSHA's own numkeys) */
  numberOfKeys?: number
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

/** Registered scripts by name (a name is one script everywhere: its Lua is fixed at build time). */
const registry = new Map<string, { sha: string, lua: string, numberOfKeys?: number }>()

interface ScriptCaller {
  evalsha: (sha: string, numberOfKeys: number, ...args: unknown[]) => Promise<unknown>
  eval: (lua: string, numberOfKeys: number, ...args: unknown[]) => Promise<unknown>
}

/**
 * Registers the scripts on a connection, once. The connection may be the Redis gate's view
 * (src/stores/redis/gate.ts): `defineCommand` through it tells the gate the name is a command to
 * bound by the request's deadline; the method ioredis defined is then replaced by one that sends
 * EVALSHA (see the module comment) and dropped from ioredis' script set.
 */
export function defineScripts (client: Redis | Cluster, scripts: readonly Script[]): void {
  for (const s of scripts) {
    if (s.name in client) continue
    const sha = createHash('sha1').update(s.lua).digest('hex')
    const known = registry.get(s.name)
    if (known !== undefined && known.sha !== sha) throw new Error(`two scripts named ${s.name}`)
    registry.set(s.name, { sha, lua: s.lua, numberOfKeys: s.numberOfKeys })
    client.defineCommand(s.name, { ...(s.numberOfKeys !== undefined && { numberOfKeys: s.numberOfKeys }), lua: s.lua })
    const target = client as unknown as Record<string, unknown> & { scriptsSet: Record<string, unknown> }
    delete target.scriptsSet[s.name]
    delete target[`${s.name}Buffer`]
    target[s.name] = scriptMethod(sha, s.lua, s.numberOfKeys)
    // loaded now, so the first call is one EVALSHA rather than a NOSCRIPT and an EVAL (two
    // round trips: a socket's presence write must not lose the race with a REST read that
    // follows its connect); a Redis that is away now gets it by EVAL on first use
    const load = (client as unknown as { script: (op: string, lua: string) => Promise<unknown> }).script('LOAD', s.lua)
    load.catch(() => {})
  }
}

/** `(...keysAndArgs) => EVALSHA`, and EVAL with the script's text when Redis does not know it. */
function scriptMethod (sha: string, lua: string, numberOfKeys?: number) {
  return async function (this: ScriptCaller, ...args: unknown[]): Promise<unknown> {
    // a script over any number of keys: their count comes first
    const n = numberOfKeys ?? args.shift() as number
    try {
      return await this.evalsha(sha, n, ...args)
    } catch (err) {
      if (!isNoScript(err)) throw err
      return await this.eval(lua, n, ...args)
    }
  }
}

/**
 * Gives an explicit pipeline (src/stores/redis/batch.ts) the registered scripts, sent as EVALSHA;
 * a pipeline's replies are read from `exec()`, so a NOSCRIPT there is retried by the batch, one
 * command at a time through the connection's own script methods (EVAL after a NOSCRIPT).
 */
export function withScripts<P extends object> (pipeline: P): P {
  const target = pipeline as unknown as Record<string, unknown> & ScriptCaller
  for (const [name, s] of registry) {
    target[name] = (...args: unknown[]) => target.evalsha(s.sha, s.numberOfKeys ?? args.shift() as number, ...args)
  }
  return pipeline
}

/** Redis did not have the script (restarted, flushed, or a node just promoted). */
export function isNoScript (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT')
}
