/**
 * HistoryStore: the broker of Switchboard, in Centrifugo's sense. `append` stores a message in
 * its room's history and publishes it to every instance as one atomic, ordered step, so the
 * order clients see is the order of history. Implemented in memory (one process) and on Redis
 * Streams; both pass test/stores/history.contract.ts.
 */
import type { Message } from '../schemas/common.js'
import type { TokenBucketRule } from '../model/rate-window.js'
import { parseId } from '../model/message-id.js'
import { appError, type AppError } from '../errors.js'
import type { Deadline } from '../deadline.js'

export interface MessageDraft {
  roomId: string
  userId: string
  name?: string
  text: string
  meta?: Record<string, unknown>
  clientMsgId?: string
  /**
   * The principal that sent it, when that is not `userId` (a service posting on behalf of a
   * user). Not stored; it scopes the idempotency key, so a service's key can never swallow the
   * user's own sends with the same clientMsgId, nor one user's message answer for another's.
   */
  sender?: string
}

export interface AppendResult {
  message: Message
  /** true when `(userId, roomId, clientMsgId)` was seen within the idempotency window */
  duplicate: boolean
}

export interface RangeQuery { before?: string, after?: string, limit: number }
export interface RangeResult { messages: Message[], hasMore: boolean }
export interface SinceResult { missed: Message[], hasMore: boolean, recovered: boolean }

export type MessageListener = (message: Message) => void

/**
 * How appended messages reach sockets. `relay`: every instance's relay (realtime/relay.ts)
 * emits them from `onMessage`. `adapter`: the append itself hands each message to the Socket.IO
 * redis-streams adapter's stream, in the same atomic step, so Socket.IO emits it on every
 * instance and can replay it to a recovered socket; the relay then stands down.
 */
export type Delivery = 'relay' | 'adapter'

/** The sender's token bucket (SPEC §7 message:send limit), decided by `append`. */
export interface SendLimit { key: string, rule: TokenBucketRule }

export interface HistoryStore {
  /**
   * Stores and publishes a message; a repeat of a clientMsgId returns the first message and
   * publishes nothing. With `limit`, takes one token from the sender's bucket first and throws
   * `rate_limited` (with `retryAfterMs`) when it is empty, writing nothing: in the same atomic
   * step where the store can (after the idempotency check, so a repeat costs no token), just
   * before it otherwise (Redis Cluster, where the bucket sits on another slot).
   *
   * Every read and write takes the request's `deadline` (src/deadline.ts, SPEC §8), last and
   * optional: with one, each Redis call gets only the time left and none left is `unavailable`.
   */
  append: (draft: MessageDraft, limit?: SendLimit, deadline?: Deadline) => Promise<AppendResult>
  /** Reads a page of history, oldest first (see SPEC §6 for the cursor rules). */
  range: (roomId: string, query: RangeQuery, deadline?: Deadline) => Promise<RangeResult>
  /**
   * Messages after `sinceId`, oldest first. `recovered` is false when messages after it may be
   * gone: the room has no history (never had, or it was deleted), `sinceId` is older than the
   * current epoch's first message (history reset), or older than the oldest kept (trimmed).
   */
  since: (roomId: string, sinceId: string, limit: number, deadline?: Deadline) => Promise<SinceResult>
  /** Whether the message `id` is in the room's history (kept, not trimmed). */
  has: (roomId: string, id: string, deadline?: Deadline) => Promise<boolean>
  readonly delivery: Delivery
  /** Called for every appended message of every room, on every instance, in history order. */
  onMessage: (listener: MessageListener) => void
  /**
   * Called when this instance's subscription to the publications is interrupted: what is
   * published until `resumed` resolves (the subscription is live again) never reaches
   * `onMessage` listeners here, so they must read it from history. See GapListener.
   */
  onGap: (listener: GapListener) => void
  /**
   * Where publications are per room (Redis Cluster's sharded relay): receive a room's messages
   * from now on (its first local member joined); settles once the subscription is live, so a
   * history read after it misses nothing. Absent where every message reaches every instance.
   */
  follow?: (roomId: string) => Promise<void>
  /** the room's last local member left */
  unfollow?: (roomId: string) => void
  close: () => Promise<void>
}

/**
 * A gap in the publications: `rooms` are the rooms affected (absent: every room); `resumed`
 * settles when the subscription is live again, with the rooms still not subscribed when it gave
 * up waiting (their publications keep missing: their clients must resync), if any.
 */
export type GapListener = (resumed: Promise<string[] | undefined | void>, rooms?: string[]) => void

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000

/** The stored body of a message: everything but `id` and `at`, which come from the position. */
export function draftBody (d: MessageDraft): string {
  return JSON.stringify({
    roomId: d.roomId,
    userId: d.userId,
    name: d.name,
    text: d.text,
    meta: d.meta,
    clientMsgId: d.clientMsgId
  })
}

/** The stored message for a draft, built directly (what `messageFrom(id, draftBody(d))` gives, without the JSON round trip). */
export function messageOf (id: string, ms: number, d: MessageDraft): Message {
  const m: Message = { id, roomId: d.roomId, userId: d.userId } as Message
  if (d.name !== undefined) m.name = d.name
  m.text = d.text
  if (d.meta !== undefined) m.meta = d.meta
  if (d.clientMsgId !== undefined) m.clientMsgId = d.clientMsgId
  m.at = ms
  return m
}

/** The refusal of an append over the sender's limit (SPEC §7: `rate_limited` with `retryAfterMs`). */
export function sendLimited (retryAfterMs: number): AppError {
  return appError('rate_limited', `too many messages; retry in ${retryAfterMs} ms`, { retryAfterMs })
}

/**
 * The stored message's JSON text from its id and stored body (draftBody), spliced without a
 * parse: what `JSON.stringify(messageFrom(id, body))` holds (same fields, `id` first, `at` last),
 * the string the append script publishes. For the archiver, which writes it to PostgreSQL as is.
 */
export function messageJson (id: string, body: string): string {
  const at = parseId(id)[0]
  return body.length > 2 ? `{"id":"${id}",${body.slice(1, -1)},"at":${at}}` : `{"id":"${id}","at":${at}}`
}

export function messageFrom (id: string, body: string): Message {
  const parsed = JSON.parse(body) as Omit<Message, 'id' | 'at'>
  const message: Message = { id, ...parsed, at: parseId(id)[0] }
  return message
}
