/**
 * The message service: the one function behind `message:send` and `POST /v1/rooms/:id/messages`,
 * and behind history reads on both transports. It checks the room rule and the sizes, then hands
 * the message and the sender's limit to the HistoryStore, which decides the limit, stores and
 * publishes in one step; the broadcast to sockets happens in the relay (or the adapter), from
 * that publication, on every instance.
 */
import { appError } from '../errors.js'
import { META_MAX_BYTES } from '../schemas/common.js'
import type { AppendResult, HistoryStore, RangeResult, SinceResult } from '../stores/history.js'
import type { TokenBucketRule } from '../model/rate-window.js'
import type { Principal } from './principal.js'
import { assertRoomAccess, type RoomAccess } from './rooms.js'
import type { Deadline } from '../deadline.js'

export const CATCH_UP_MAX = 200

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** The number of grapheme clusters (user-perceived characters) of a text: MESSAGE_MAX_LENGTH counts these. */
export function graphemes (text: string): number {
  let n = 0
  const it = segmenter.segment(text)[Symbol.iterator]()
  while (it.next().done !== true) n++
  return n
}
export const HISTORY_DEFAULT_LIMIT = 50

export interface SendInput {
  roomId: string
  text: string
  clientMsgId?: string
  meta?: Record<string, unknown>
  /** services may post on behalf of a user (REST); sockets always post as themselves */
  userId?: string
  name?: string
}

export interface HistoryQuery { roomId: string, before?: string, after?: string, limit?: number }

export interface MessageServiceOptions {
  history: HistoryStore
  roomAccess: RoomAccess
  maxLength: number
  /** the per-user send limit (SPEC §7), shared by both transports; absent when switched off */
  sendLimit?: SendLimiter
}

/** The per-user send bucket: its rule and the key of a user's bucket (the store decides). */
export interface SendLimiter {
  rule: TokenBucketRule
  key: (userId: string) => string
}

/** Every call takes the request's `deadline` last (src/deadline.ts, SPEC §8): its store calls share it. */
export interface MessageService {
  /** `via` names the transport for /metrics (SPEC §6 switchboard_messages_sent_total); default `rest` */
  send: (principal: Principal, input: SendInput, via?: 'socket' | 'rest', deadline?: Deadline) => Promise<AppendResult>
  history: (principal: Principal, query: HistoryQuery, deadline?: Deadline) => Promise<RangeResult>
  catchUp: (principal: Principal, roomId: string, since: string, deadline?: Deadline) => Promise<SinceResult>
  assertAccess: (principal: Principal, roomId: string) => void
}

export function createMessageService (opts: MessageServiceOptions): MessageService {
  const { history, roomAccess, maxLength, sendLimit } = opts

  function assertAccess (principal: Principal, roomId: string): void {
    assertRoomAccess(principal, roomId, roomAccess)
  }

  return {
    assertAccess,

    async send (principal, input, _via, deadline) {
      assertAccess(principal, input.roomId)
      // characters as people count them: grapheme clusters (a family emoji is one). A text is
      // never more clusters than UTF-16 units, so the cheap check settles almost every message
      if (input.text.length > maxLength && graphemes(input.text) > maxLength) {
        throw appError('payload_too_large', `text is longer than ${maxLength} characters`)
      }
      if (input.meta !== undefined && Buffer.byteLength(JSON.stringify(input.meta)) > META_MAX_BYTES) {
        throw appError('payload_too_large', `meta is larger than ${META_MAX_BYTES} bytes`)
      }
      // the caller (principal.sub) pays, also when a service posts on behalf of a user; the
      // store decides, in the append itself where it can
      const limit = sendLimit !== undefined ? { key: sendLimit.key(principal.sub), rule: sendLimit.rule } : undefined
      const userId = input.userId ?? principal.sub
      const name = input.userId !== undefined && input.userId !== principal.sub ? input.name : (input.name ?? principal.name)
      return await history.append({
        roomId: input.roomId,
        userId,
        ...(name !== undefined && { name }),
        text: input.text,
        ...(input.meta !== undefined && { meta: input.meta }),
        ...(input.clientMsgId !== undefined && { clientMsgId: input.clientMsgId }),
        // posting on behalf of someone else: the idempotency key is the poster's own
        ...(userId !== principal.sub && { sender: principal.sub })
      }, limit, deadline)
    },

    async history (principal, q, deadline) {
      assertAccess(principal, q.roomId)
      return await history.range(q.roomId, { before: q.before, after: q.after, limit: q.limit ?? HISTORY_DEFAULT_LIMIT }, deadline)
    },

    async catchUp (principal, roomId, since, deadline) {
      assertAccess(principal, roomId)
      return await history.since(roomId, since, CATCH_UP_MAX, deadline)
    }
  }
}
