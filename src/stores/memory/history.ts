/**
 * In-process HistoryStore for the single-instance mode (no REDIS_URL). Mirrors the Redis
 * implementation's semantics: positions `<ms>-<seq>`, MAXLEN trim, a per-room epoch, a 24 h
 * idempotency window, and listeners called synchronously in append order (the in-process
 * Socket.IO adapter records the relay's broadcasts, so its connection state recovery replays
 * them).
 */
import type { Message } from '../../schemas/common.js'
import { MemoryRateLimitStore } from './rate-limit.js'
import { compareIds } from '../../model/message-id.js'
import {
  IDEMPOTENCY_TTL_MS, messageOf, sendLimited, type SendLimit,
  type AppendResult, type Delivery, type HistoryStore, type MessageDraft, type MessageListener,
  type RangeQuery, type RangeResult, type SinceResult
} from '../history.js'

interface Room {
  messages: Message[]
  lastMs: number
  lastSeq: number
  /** first id of the current epoch (the room's history began there) */
  start: string
}

export interface MemoryHistoryOptions {
  maxLen: number
  now?: () => number
}

export class MemoryHistoryStore implements HistoryStore {
  readonly #rooms = new Map<string, Room>()
  /** rooms that were reset → the last ms their old epoch used (a new epoch starts after it) */
  readonly #resetAt = new Map<string, number>()
  readonly #idem = new Map<string, { message: Message, expiresAt: number }>()
  readonly #listeners: MessageListener[] = []
  readonly #maxLen: number
  readonly #now: () => number
  readonly delivery: Delivery = 'relay'
  /** the send buckets: checked inside append, in the same tick as the idempotency check */
  readonly #buckets: MemoryRateLimitStore

  constructor (opts: MemoryHistoryOptions) {
    this.#maxLen = opts.maxLen
    this.#now = opts.now ?? Date.now
    this.#buckets = new MemoryRateLimitStore({ now: this.#now })
  }

  async append (draft: MessageDraft, limit?: SendLimit): Promise<AppendResult> {
    const now = this.#now()
    let idemKey: string | undefined
    if (draft.clientMsgId !== undefined) {
      idemKey = JSON.stringify([draft.roomId, draft.userId, draft.clientMsgId, draft.sender ?? null])
      const seen = this.#idem.get(idemKey)
      if (seen !== undefined && seen.expiresAt > now) return { message: seen.message, duplicate: true }
    }
    if (limit !== undefined) {
      const d = this.#buckets.takeSync(limit.key, limit.rule)
      if (!d.allowed) throw sendLimited(d.retryAfterMs)
    }
    let room = this.#rooms.get(draft.roomId)
    // a new epoch starts a millisecond ahead, after every id of a previous one (as on Redis)
    const ms = room === undefined ? Math.max(now, this.#resetAt.get(draft.roomId) ?? 0) + 1 : Math.max(now, room.lastMs)
    const seq = room !== undefined && ms === room.lastMs ? room.lastSeq + 1 : 0
    const id = `${ms}-${seq}`
    if (room === undefined) {
      room = { messages: [], lastMs: ms, lastSeq: seq, start: id }
      this.#rooms.set(draft.roomId, room)
    }
    room.lastMs = ms
    room.lastSeq = seq
    const message = messageOf(id, ms, draft)
    room.messages.push(message)
    if (room.messages.length > this.#maxLen) room.messages.splice(0, room.messages.length - this.#maxLen)
    if (idemKey !== undefined) {
      this.#idem.set(idemKey, { message, expiresAt: now + IDEMPOTENCY_TTL_MS })
      if (this.#idem.size % 1024 === 0) this.#sweepIdempotency(now)
    }
    for (const l of this.#listeners) l(message)
    return { message, duplicate: false }
  }

  async range (roomId: string, q: RangeQuery): Promise<RangeResult> {
    const all = this.#rooms.get(roomId)?.messages ?? []
    if (q.after !== undefined) {
      const before = q.before
      const from = lowerBound(all, q.after, true)
      const window: Message[] = []
      for (let i = from; i < all.length && window.length <= q.limit; i++) {
        if (before !== undefined && compareIds(all[i].id, before) >= 0) break
        window.push(all[i])
      }
      const hasMore = window.length > q.limit
      return { messages: hasMore ? window.slice(0, q.limit) : window, hasMore }
    }
    const end = q.before !== undefined ? lowerBound(all, q.before, false) : all.length
    const start = Math.max(0, end - q.limit)
    return { messages: all.slice(start, end), hasMore: start > 0 }
  }

  async since (roomId: string, sinceId: string, limit: number): Promise<SinceResult> {
    const room = this.#rooms.get(roomId)
    if (room === undefined) return { missed: [], hasMore: false, recovered: false }
    const page = await this.range(roomId, { after: sinceId, limit })
    // the same rule as the Redis store: this epoch began at or before `since`, and `since` is not
    // older than the oldest kept message (a trimmed `since` counts as lost: we cannot tell what
    // was removed after it)
    const recovered = compareIds(sinceId, room.start) >= 0 && compareIds(sinceId, room.messages[0].id) >= 0
    return { missed: page.messages, hasMore: page.hasMore, recovered }
  }

  async has (roomId: string, id: string): Promise<boolean> {
    const all = this.#rooms.get(roomId)?.messages ?? []
    const i = lowerBound(all, id, false)
    return i < all.length && compareIds(all[i].id, id) === 0
  }

  onMessage (listener: MessageListener): void {
    this.#listeners.push(listener)
  }

  /** In one process, nothing published can be missed. */
  onGap (): void {}

  /** Forgets a room's history, as a Redis flush would: the next append starts a new epoch. */
  reset (roomId: string): void {
    const room = this.#rooms.get(roomId)
    if (room !== undefined) this.#resetAt.set(roomId, room.lastMs)
    this.#rooms.delete(roomId)
  }

  async close (): Promise<void> {
    this.#listeners.length = 0
  }

  #sweepIdempotency (now: number): void {
    for (const [k, v] of this.#idem) if (v.expiresAt <= now) this.#idem.delete(k)
  }
}

/** Index of the first message with id > `id` (strictlyAfter) or id >= `id` (otherwise). */
function lowerBound (all: Message[], id: string, strictlyAfter: boolean): number {
  let lo = 0
  let hi = all.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = compareIds(all[mid].id, id)
    if (strictlyAfter ? c <= 0 : c < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}
