/**
 * One deadline per request (SPEC §8 "Ack means durable"): a REST request or a socket event
 * answers within 2 s however many Redis calls it makes. The deadline lives in an
 * AsyncLocalStorage context opened when the request or event starts; the Redis gate
 * (src/stores/redis/gate.ts) gives each command only the time left, and fails it at once when
 * none is left. Code outside any context (heartbeats, sweeps) gets the per-command timeout only.
 */
import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * What all Redis calls of one request or event may take together, in ms: the answer (and its
 * trip to the client) must still fit in SPEC §8's 2 s.
 */
export const REDIS_BUDGET_MS = 1500

export interface DeadlineContext {
  /** epoch ms (local clock) after which no Redis call of this request may still be waited for */
  deadline: number
}

const storage = new AsyncLocalStorage<DeadlineContext>()

/**
 * Runs `fn` with a deadline `ms` from now, or the enclosing one when that is sooner (a nested
 * budget can only shorten it).
 */
export function runWithDeadline<T> (ms: number, fn: () => T): T {
  const outer = storage.getStore()?.deadline ?? Infinity
  return storage.run({ deadline: Math.min(outer, Date.now() + ms) }, fn)
}

/** Runs `fn` in an existing context again (e.g. after Fastify parsed a body, where async context is lost). */
export function runInContext<T> (ctx: DeadlineContext | undefined, fn: () => T): T {
  return ctx === undefined ? fn() : storage.run(ctx, fn)
}

/** The current context, if any. */
export function currentContext (): DeadlineContext | undefined {
  return storage.getStore()
}

/** The current deadline (epoch ms), or undefined outside any request or event. */
export function currentDeadline (): number | undefined {
  return storage.getStore()?.deadline
}
