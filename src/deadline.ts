/**
 * One deadline per request (SPEC §8 "Ack means durable"): a REST request or a socket event
 * answers within 2 s however many Redis calls it makes.
 *
 * The deadline is a plain value that travels with the call: an epoch ms (local clock) made once
 * where the request starts — `src/realtime/wrap.ts` for a socket event (the handler's third
 * argument), the `onRequest` hook of `plugins/redis.ts` for REST (`request.deadline`) — and
 * passed down explicitly: handler or route → domain service → store method (its last, optional
 * argument) → `atDeadline(client, deadline)`, the Redis gate's view of its connection in which
 * every command gets only the time left (src/stores/redis/gate.ts); none left → `unavailable` at
 * once. A store method called without one (heartbeats, sweeps, the relay) gets the
 * per-command timeout only.
 *
 * Why not an AsyncLocalStorage (as before): on Node 20 the first `AsyncLocalStorage.run` enables
 * promise hooks for every promise of the process — ioredis makes several per command — and the
 * hooks, their resource lookups and the garbage they leave cost more CPU on the message path
 * than the rest of Switchboard's own code (issue 11). Nothing here uses `node:async_hooks`.
 */

/**
 * What all Redis calls of one request or event may take together, in ms: the answer (and its
 * trip to the client) must still fit in SPEC §8's 2 s.
 */
export const REDIS_BUDGET_MS = 1500

/**
 * A request's deadline: epoch ms (local clock) after which none of its Redis calls may still be
 * waited for. `undefined` outside any request: each command gets the per-command timeout.
 */
export type Deadline = number | undefined

/** The deadline of a request starting now: `ms` from now (default REDIS_BUDGET_MS). */
export function deadlineIn (ms: number = REDIS_BUDGET_MS): number {
  return Date.now() + ms
}
