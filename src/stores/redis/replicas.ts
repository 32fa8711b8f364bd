/**
 * REDIS_WAIT_REPLICAS (SPEC §2, §8): with N > 0 a write is acknowledged only once N replicas of
 * the primary that holds it confirm it (Redis `WAIT N timeout`), so a failover, which promotes
 * one of them, loses no acknowledged message. The history append calls `confirmReplicas` right
 * after its script returned.
 *
 * WAIT counts the replicas that acknowledged the last write *of the connection it is sent on*, so
 * it goes on the command connection that did the append: on a single Redis or Sentinel that is
 * the only one; on a Cluster a pipeline led by a command on the room's key routes it to the
 * node that holds the room's slot. WAIT blocks that connection until the replicas answer
 * (normally one replication round trip), so a primary with fewer than N connected replicas is
 * refused at once from `ROLE` instead of blocking every command behind it until the timeout.
 * The wait is bounded by the request's deadline (src/deadline.ts, passed by the caller): fewer than N in time is
 * `unavailable`; the message may be stored then, and a retry with the same `clientMsgId`
 * returns it (with the same confirmation).
 */
import { Cluster, type Redis } from 'ioredis'
import { appError } from '../../errors.js'
import type { Deadline } from '../../deadline.js'
import { atDeadline } from './gate.js'
import { storeError } from './errors.js'

/** the most a confirmation waits outside any request (heartbeats, tests) */
const DEFAULT_WAIT_MS = 1500
/** the reply to WAIT must still arrive before the request's deadline */
const MARGIN_MS = 50

type Client = Redis | Cluster

const required = new WeakMap<object, number>()

/** Sets how many replicas must confirm the writes made through `client` (0: none). */
export function setWaitReplicas (client: Client, replicas: number): void {
  if (replicas > 0) required.set(client, replicas)
  else required.delete(client)
}

/** The number of replicas `client`'s writes wait for (0: none). */
export function waitReplicas (client: Client): number {
  return required.get(client) ?? 0
}

/**
 * Resolves once the configured number of replicas hold every write made so far through
 * `client` on the node holding `key`; at once when none is configured. Throws the catalog's
 * `unavailable` when they do not within the request's `deadline` (epoch ms; undefined: 1.5 s).
 */
export async function confirmReplicas (gated: Client, key: string, deadline?: Deadline): Promise<void> {
  const n = required.get(gated)
  if (n === undefined) return
  const left = Math.min(deadline ?? Infinity, Date.now() + DEFAULT_WAIT_MS) - Date.now() - MARGIN_MS
  if (left <= 0) throw notConfirmed(0, n)
  const client = atDeadline(gated, deadline)
  let acked: number
  try {
    const connected = await run(client, key, p => p.role()) as [string, string, unknown[]]
    const replicas = Array.isArray(connected?.[2]) ? connected[2].length : 0
    if (replicas < n) throw notConfirmed(replicas, n)
    acked = Number(await run(client, key, p => p.wait(n, Math.max(1, Math.floor(left)))))
  } catch (err) {
    throw storeError(err)
  }
  if (acked < n) throw notConfirmed(acked, n)
}

type Pipeline = ReturnType<Client['pipeline']>

/**
 * Runs one keyless command on the node that holds `key`: on a Cluster a pipeline's node is the
 * one of its keyed commands (EXISTS here), on a single Redis it is the one connection.
 */
async function run (client: Client, key: string, add: (p: Pipeline) => Pipeline): Promise<unknown> {
  const p = client instanceof Cluster ? add(client.pipeline().exists(key)) : add(client.pipeline())
  const replies = await p.exec()
  if (replies === null) throw new Error('pipeline aborted')
  const [err, value] = replies[replies.length - 1]
  if (err !== null) throw err
  return value
}

function notConfirmed (acked: number, wanted: number): Error {
  return appError('unavailable', `the message reached ${acked} of ${wanted} replicas in time and may not survive a failover; retry with the same clientMsgId`)
}
