/**
 * HistoryStore with the PostgreSQL archive behind Redis (issue 16, SPEC §8): appends, delivery
 * and the live window are the Redis store's; reads that run past what Redis keeps continue from
 * the archive with the same ids, order and `hasMore`. Redis holds a suffix of each room's
 * history (the archiver trims only archived messages, oldest first), the archive a prefix plus
 * an overlap, so a page is: Redis' part, then the archive's part strictly older than the oldest
 * Redis message of the page (or of the stream) — no duplicates, no gap.
 *
 * The archive is only asked when Redis cannot settle a read alone: a room whose whole history
 * is still in Redis (its epoch's first message is kept and the archive had nothing of it before,
 * `meta.floor = 0-0`) never touches PostgreSQL. When the archive is needed and down, a page
 * newest-first gives what Redis has with `hasMore: true` (the next page then answers
 * `unavailable`), `since` gives Redis' part with `recovered: false`, and an oldest-first page
 * that must start in the archive answers `unavailable` — never a silently short history.
 *
 * `recovered` (since): true when Redis alone vouches, or when `since` is in the current epoch and
 * after any loss the archiver recorded (`meta.gap`, the backlog bound). A `since` from before the
 * current epoch (Redis lost the room: flushed or replaced) is answered from the archive but with
 * `recovered: false`, since messages unarchived at the loss cannot be ruled out.
 */
import type { Redis, Cluster } from 'ioredis'
import type { Keys } from '../keys.js'
import type { PgArchive } from '../postgres/archive.js'
import { storeError } from './errors.js'
import { atDeadline } from './gate.js'
import type { Deadline } from '../../deadline.js'
import type { RedisHistoryStore } from './history.js'
import { compareIds } from '../../model/message-id.js'
import { SPAN, type SpanReply } from './lua/history-reads.js'
import { defineScripts } from './lua/script.js'
import {
  type AppendResult, type Delivery, type GapListener, type HistoryStore, type MessageDraft, type MessageListener,
  type RangeQuery, type RangeResult, type SendLimit, type SinceResult
} from '../history.js'

interface Span {
  /** oldest id kept in Redis */
  first?: string
  /** the current epoch's first id */
  start?: string
  /** set when everything of the room is in Redis */
  whole: boolean
  /** messages before this id may have been dropped unarchived */
  gap?: string
}

export class ArchivedHistoryStore implements HistoryStore {
  readonly #inner: RedisHistoryStore
  readonly #client: Redis | Cluster
  readonly #keys: Keys
  readonly #archive: PgArchive

  constructor (opts: { inner: RedisHistoryStore, client: Redis | Cluster, keys: Keys, archive: PgArchive }) {
    this.#inner = opts.inner
    this.#client = opts.client
    this.#keys = opts.keys
    this.#archive = opts.archive
    defineScripts(this.#client, [SPAN])
  }

  get delivery (): Delivery { return this.#inner.delivery }

  // the sending path: the Redis store's own promise, no extra async frame per message
  append (draft: MessageDraft, limit?: SendLimit, deadline?: Deadline): Promise<AppendResult> {
    return this.#inner.append(draft, limit, deadline)
  }

  async #span (roomId: string, deadline: Deadline): Promise<Span> {
    let reply: SpanReply
    try {
      reply = await atDeadline(this.#client, deadline).sbSpan(this.#keys.roomHistory(roomId), this.#keys.roomMeta(roomId))
    } catch (err) {
      throw storeError(err)
    }
    const [first, start, floor, gap] = reply.map(v => v ?? undefined)
    return {
      ...(first !== undefined && { first }),
      ...(start !== undefined && { start }),
      ...(gap !== undefined && { gap }),
      whole: first !== undefined && first === start && floor === '0-0'
    }
  }

  async range (roomId: string, q: RangeQuery, deadline?: Deadline): Promise<RangeResult> {
    if (q.after !== undefined) {
      // oldest first: Redis' page starts at its oldest kept message, so it settles the page only
      // when nothing newer than `after` predates that
      const [page, span] = await Promise.all([this.#inner.range(roomId, q, deadline), this.#span(roomId, deadline)])
      if (span.whole || (span.first !== undefined && compareIds(q.after, span.first) >= 0)) return page
      const redisOldest = page.messages[0]?.id
      let upper = q.before
      for (const bound of [span.first, redisOldest]) {
        if (bound !== undefined && (upper === undefined || compareIds(bound, upper) < 0)) upper = bound
      }
      const older = await this.#archive.page(roomId, { after: q.after, before: upper, limit: q.limit + 1, from: 'after' }, deadline)
      const merged = older.concat(page.messages)
      return { messages: merged.slice(0, q.limit), hasMore: merged.length > q.limit || page.hasMore }
    }
    const page = await this.#inner.range(roomId, q, deadline)
    if (page.hasMore) return page
    const span = await this.#span(roomId, deadline)
    if (span.whole) return page
    const redisOldest = page.messages[0]?.id
    // newest first: Redis ran out below its oldest message of the page (or below `before`)
    const upper = redisOldest ?? (span.first !== undefined && (q.before === undefined || compareIds(span.first, q.before) < 0) ? span.first : q.before)
    const want = q.limit - page.messages.length + 1
    let older
    try {
      older = await this.#archive.page(roomId, { before: upper, limit: want, from: 'before' }, deadline)
    } catch (err) {
      // the archive is down: what Redis has, and hasMore (older pages then answer unavailable)
      if (page.messages.length > 0) return { messages: page.messages, hasMore: true }
      throw err
    }
    const hasMore = older.length === want
    return { messages: (hasMore ? older.slice(1) : older).concat(page.messages), hasMore }
  }

  async since (roomId: string, sinceId: string, limit: number, deadline?: Deadline): Promise<SinceResult> {
    const r = await this.#inner.since(roomId, sinceId, limit, deadline)
    if (r.recovered) return r
    const span = await this.#span(roomId, deadline)
    if (span.whole) return r
    const upper = r.missed[0]?.id ?? span.first
    let older
    try {
      older = await this.#archive.page(roomId, { after: sinceId, ...(upper !== undefined && { before: upper }), limit: limit + 1, from: 'after' }, deadline)
    } catch {
      return r // the archive is down: Redis' part, recovered false (honestly: some may be missing)
    }
    const merged = older.concat(r.missed)
    const recovered = span.start !== undefined && compareIds(sinceId, span.start) >= 0 &&
      (span.gap === undefined || compareIds(sinceId, span.gap) >= 0)
    return { missed: merged.slice(0, limit), hasMore: merged.length > limit || r.hasMore, recovered }
  }

  async has (roomId: string, id: string, deadline?: Deadline): Promise<boolean> {
    if (await this.#inner.has(roomId, id, deadline)) return true
    return await this.#archive.has(roomId, id, deadline)
  }

  onMessage (listener: MessageListener): void { this.#inner.onMessage(listener) }
  onGap (listener: GapListener): void { this.#inner.onGap(listener) }
  async ready (): Promise<void> { await this.#inner.ready() }
  async close (): Promise<void> { await this.#inner.close() }
}
