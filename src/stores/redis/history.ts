/**
 * HistoryStore on Redis Streams. One stream per room holds its history (trimmed to
 * HISTORY_MAX_MESSAGES); one script (lua/append.ts) checks the idempotency key and the send
 * limit, appends and PUBLISHes in one atomic step, so every instance receives messages in
 * history order and relays them to its local sockets (realtime/relay). With the redis-streams
 * Socket.IO adapter the same script also writes the broadcast to the adapter's stream, so
 * connection state recovery replays messages too, in history order.
 */
import type { Redis, Cluster, RedisOptions } from 'ioredis'
import type { Message } from '../../schemas/common.js'
import type { Keys } from '../keys.js'
import { storeError } from './errors.js'
import { appError } from '../../errors.js'
import { RedisRateLimitStore } from './rate-limit.js'
import { confirmReplicas } from './replicas.js'
import { atDeadline } from './gate.js'
import type { Deadline } from '../../deadline.js'
import { compareIds, parseId } from '../../model/message-id.js'
import { appendVariant, type AppendFeatures, type AppendReply, type AppendVariant } from './lua/append.js'
import { SINCE, type Entry } from './lua/history-reads.js'
import { defineScripts } from './lua/script.js'
import { ShardSubscriptions } from './shard-subscriptions.js'
import {
  draftBody, IDEMPOTENCY_TTL_MS, messageFrom, messageOf, sendLimited, type SendLimit,
  type AppendResult, type Delivery, type GapListener, type HistoryStore, type MessageDraft, type MessageListener,
  type RangeQuery, type RangeResult, type SinceResult
} from '../history.js'

/** The redis-streams adapter's stream length (approximate): its recovery window in packets. */
export const ADAPTER_STREAM_MAX_LEN = 10_000

/** The Socket.IO redis-streams adapter's stream, for `delivery: 'adapter'`. */
export interface AdapterStream {
  /** stream key (the adapter's `streamName`) */
  key: string
  /** the adapter's `maxLen` */
  maxLen: number
}

export interface RedisHistoryOptions {
  client: Redis | Cluster
  /** a connection in subscriber mode, owned by the caller */
  subscriber: Redis | Cluster
  keys: Keys
  maxLen: number
  /** set with the redis-streams adapter: messages then reach sockets through it (see above) */
  adapter?: AdapterStream
  /**
   * false on Redis Cluster, where the sender's bucket and the room's keys sit on different slots:
   * the send limit is then taken with its own script just before the append
   */
  foldSendLimit?: boolean
  /**
   * The deadline of an append issued now for a request due at `deadline` (src/deadline.ts), on
   * Redis' clock (epoch ms; 0 for none): an append that Redis runs later writes nothing, so an
   * `unavailable` answer always means "not written"
   */
  writeDeadline?: (deadline: Deadline) => number
  /** with the PostgreSQL archive (issue 16): see ArchiveHook */
  archive?: ArchiveHook
  /**
   * Redis Cluster: the sharded relay (shard-subscriptions.ts). The append SPUBLISHes on the
   * room's shard channel and the store subscribes per followed room, on connections of its own
   * made with `options`; `subscriber` is then not used for messages.
   */
  shards?: { cluster: Cluster, options: RedisOptions }
}

/**
 * What the append needs from the archive: streams are then trimmed by the archiver (never past
 * what is archived) and only capped at `backlogMaxLen` by the append; each append marks its room
 * in `dirtyKey`; a new epoch starts after the archive's `newest` id of the room.
 */
export interface ArchiveHook {
  dirtyKey: string
  /** the hard cap of a room stream while its messages wait for the archive */
  backlogMaxLen: number
  /** the archive's newest id of a room ('0-0' when none or when the archive cannot say) */
  newest: (roomId: string) => Promise<string>
}

// the envelope of a broadcast in the adapter's stream (socket.io-adapter ClusterAdapter message
// type 3 = BROADCAST; packet type 2 = EVENT), written as @socket.io/redis-streams-emitter does
const ENVELOPE_HEAD = '{"packet":{"type":2,"data":["message:new",'
const envelopeTail = (roomId: string): string =>
  `],"nsp":"/"},"opts":${JSON.stringify({ rooms: [roomId], except: [], flags: {} })}}`

export class RedisHistoryStore implements HistoryStore {
  readonly #client: Redis | Cluster
  readonly #sub: Redis | Cluster
  readonly #keys: Keys
  readonly #maxLen: number
  readonly #trimMode: string
  readonly #adapter: AdapterStream | undefined
  readonly #writeDeadline: (deadline: Deadline) => number
  readonly #archive: ArchiveHook | undefined
  readonly #listeners: MessageListener[] = []
  readonly #gapListeners: GapListener[] = []
  /** Cluster: the per-room shard subscriptions (started with the first listener) */
  #shards: ShardSubscriptions | undefined
  readonly #shardOptions: RedisHistoryOptions['shards']
  #subscribed: Promise<unknown> | undefined
  readonly delivery: Delivery
  /** the send limit's own store when it cannot be folded into the append (Cluster) */
  readonly #limiter: RedisRateLimitStore | undefined
  /** the append scripts this store may run (its adapter and archive are fixed), by feature set */
  readonly #variants = new Map<string, AppendVariant>()

  constructor (opts: RedisHistoryOptions) {
    this.#client = opts.client
    this.#sub = opts.subscriber
    this.#keys = opts.keys
    this.#maxLen = opts.maxLen
    // exact trim for small histories (tests, tiny rooms); approximate (cheap) otherwise
    this.#trimMode = opts.maxLen >= 1000 ? '~' : '='
    this.#archive = opts.archive
    this.#adapter = opts.adapter
    this.#writeDeadline = opts.writeDeadline ?? (() => 0)
    this.delivery = opts.adapter !== undefined ? 'adapter' : 'relay'
    this.#shardOptions = opts.shards
    this.#limiter = (opts.foldSendLimit ?? true) ? undefined : new RedisRateLimitStore({ client: this.#client })
    for (const once of [false, true]) {
      for (const limited of [false, true]) {
        const f = { once, limited, adapter: this.#adapter !== undefined, archive: this.#archive !== undefined }
        this.#variants.set(variantId(f), appendVariant(f))
      }
    }
    defineScripts(this.#client, [SINCE, ...[...this.#variants.values()].map(v => v.script)])
  }

  #variant (f: AppendFeatures): AppendVariant {
    const v = this.#variants.get(variantId(f))
    if (v === undefined) throw new Error(`no append script for ${variantId(f)}`)
    return v
  }

  async append (draft: MessageDraft, limit?: SendLimit, deadline?: Deadline): Promise<AppendResult> {
    const client = atDeadline(this.#client, deadline)
    const k = this.#keys
    const adapter = this.#adapter
    const archive = this.#archive
    // on Cluster the limit is decided first, by its own script (a repeat then costs a token)
    if (limit !== undefined && this.#limiter !== undefined) {
      const d = await this.#limiter.take(limit.key, limit.rule, deadline)
      if (!d.allowed) throw sendLimited(d.retryAfterMs)
    }
    const folded = limit !== undefined && this.#limiter === undefined ? limit : undefined
    const variant = this.#variant({ once: draft.clientMsgId !== undefined, limited: folded !== undefined, adapter: adapter !== undefined, archive: archive !== undefined })
    const values = {
      stream: k.roomHistory(draft.roomId),
      meta: k.roomMeta(draft.roomId),
      body: draftBody(draft),
      trim_mode: archive !== undefined ? '~' : this.#trimMode,
      max_len: archive?.backlogMaxLen ?? this.#maxLen,
      publish: this.#shardOptions !== undefined ? 'SPUBLISH' : 'PUBLISH',
      channel: this.#shardOptions !== undefined ? k.roomMessagesChannel(draft.roomId) : k.messagesChannel,
      deadline: String(Math.max(0, this.#writeDeadline(deadline))),
      ...(draft.clientMsgId !== undefined && {
        idem_key: k.idempotency(draft.roomId, draft.userId, draft.clientMsgId, draft.sender),
        idem_ttl: IDEMPOTENCY_TTL_MS
      }),
      ...(folded !== undefined && { bucket: folded.key, burst: folded.rule.burst, per_second: folded.rule.perSecond }),
      ...(adapter !== undefined && {
        adapter_stream: adapter.key, envelope_head: ENVELOPE_HEAD, envelope_tail: envelopeTail(draft.roomId), adapter_max_len: adapter.maxLen
      }),
      ...(archive !== undefined && { dirty_rooms: archive.dirtyKey, floor: '', room_id: draft.roomId })
    }
    let reply: AppendReply
    for (;;) {
      try {
        reply = await client[variant.script.name](...variant.args(values))
      } catch (err) {
        throw storeError(err)
      }
      // a new epoch (the room's stream is gone): learn the archive's newest id first (issue 16)
      if (reply[0] !== 'needs_floor' || archive === undefined || values.floor !== '') break
      values.floor = await archive.newest(draft.roomId)
    }
    // REDIS_WAIT_REPLICAS (SPEC §2): N replicas hold it before the ack, a repeat included
    if (reply[0] === 'appended' || reply[0] === 'duplicate') await confirmReplicas(this.#client, values.stream, deadline)
    switch (reply[0]) {
      case 'appended': {
        // the draft already holds everything but the position: no need to parse the JSON
        const id = reply[1]
        return { message: messageOf(id, parseId(id)[0], draft), duplicate: false }
      }
      case 'duplicate': return { message: JSON.parse(reply[1]) as Message, duplicate: true }
      case 'limited': throw sendLimited(reply[1])
      case 'late': throw appError('unavailable', 'storage did not answer in time, nothing was written; retry later')
      case 'needs_floor': throw appError('internal', 'the append asked for the archive\'s newest id twice')
    }
  }

  async range (roomId: string, q: RangeQuery, deadline?: Deadline): Promise<RangeResult> {
    const client = atDeadline(this.#client, deadline)
    const key = this.#keys.roomHistory(roomId)
    const count = q.limit + 1
    try {
      if (q.after !== undefined) {
        if (q.before !== undefined && compareIds(q.after, q.before) >= 0) return { messages: [], hasMore: false }
        const end = q.before !== undefined ? `(${q.before}` : '+'
        const entries = await client.xrange(key, `(${q.after}`, end, 'COUNT', count)
        const hasMore = entries.length > q.limit
        return { messages: toMessages(hasMore ? entries.slice(0, q.limit) : entries), hasMore }
      }
      // nothing precedes 0-0, and Redis refuses it as an exclusive end
      if (q.before !== undefined && compareIds(q.before, '0-1') < 0) return { messages: [], hasMore: false }
      const end = q.before !== undefined ? `(${q.before}` : '+'
      const entries = await client.xrevrange(key, end, '-', 'COUNT', count)
      const hasMore = entries.length > q.limit
      const page = hasMore ? entries.slice(0, q.limit) : entries
      return { messages: toMessages(page.reverse()), hasMore }
    } catch (err) {
      throw storeError(err)
    }
  }

  async since (roomId: string, sinceId: string, limit: number, deadline?: Deadline): Promise<SinceResult> {
    try {
      const [start, first, entries] = await atDeadline(this.#client, deadline).sbSince(
        this.#keys.roomHistory(roomId), this.#keys.roomMeta(roomId), sinceId, limit + 1)
      const hasMore = entries.length > limit
      const missed = toMessages(hasMore ? entries.slice(0, limit) : entries)
      // recovered only when this epoch began at or before `since` and `since` is not older than
      // the oldest kept message (anything after it may have been trimmed)
      const recovered = start !== null && first !== null && compareIds(sinceId, start) >= 0 && compareIds(sinceId, first) >= 0
      return { missed, hasMore, recovered }
    } catch (err) {
      throw storeError(err)
    }
  }

  async has (roomId: string, id: string, deadline?: Deadline): Promise<boolean> {
    try {
      const entries = await atDeadline(this.#client, deadline).xrange(this.#keys.roomHistory(roomId), id, id, 'COUNT', 1)
      return entries.length > 0
    } catch (err) {
      throw storeError(err)
    }
  }

  onMessage (listener: MessageListener): void {
    this.#listeners.push(listener)
    if (this.#subscribed !== undefined) return
    if (this.#shardOptions !== undefined) {
      this.#subscribed = Promise.resolve()
      this.#shards = new ShardSubscriptions({
        ...this.#shardOptions,
        channelOf: roomId => this.#keys.roomMessagesChannel(roomId),
        onMessage: (json) => { this.#deliver(json) },
        onGap: (rooms, resumed) => { for (const l of this.#gapListeners) l(resumed, rooms) }
      })
      return
    }
    const channel = this.#keys.messagesChannel
    this.#sub.on('message', (ch: string, json: string) => {
      if (ch === channel) this.#deliver(json)
    })
    // ioredis re-subscribes by itself after a reconnect, but what is published meanwhile is lost
    // to this instance (pub/sub is at most once). The gap listeners hear of the interruption at
    // once and of its end when the channel is live again (our own SUBSCRIBE resolved; a repeat
    // is harmless), so that they can read the gap from history.
    let resume: (() => void) | undefined
    this.#sub.on('close', () => {
      if (resume !== undefined) return
      const resumed = new Promise<void>(resolve => { resume = resolve })
      for (const l of this.#gapListeners) l(resumed)
    })
    const confirm = (): void => {
      if (resume === undefined || this.#sub.status !== 'ready') return
      this.#sub.subscribe(channel).then(() => {
        const r = resume
        resume = undefined
        r?.()
      }, () => { setTimeout(confirm, 500).unref() })
    }
    this.#sub.on('ready', confirm)
    this.#subscribed = this.#sub.subscribe(channel).catch(() => {})
  }

  #deliver (json: string): void {
    let message: Message
    try {
      message = JSON.parse(json) as Message
    } catch {
      return
    }
    for (const l of this.#listeners) l(message)
  }

  onGap (listener: GapListener): void {
    this.#gapListeners.push(listener)
  }

  /** Cluster: subscribe to a room's messages; settles once live (see HistoryStore.follow). */
  async follow (roomId: string): Promise<void> {
    await this.#shards?.follow(roomId)
  }

  unfollow (roomId: string): void {
    this.#shards?.unfollow(roomId)
  }

  /** Resolves once the relay subscription is active (or has failed and will be retried). */
  async ready (): Promise<void> {
    await this.#subscribed
  }

  async close (): Promise<void> {
    this.#listeners.length = 0
    this.#gapListeners.length = 0
    // the shard subscriptions are this store's own connections
    this.#shards?.close()
    // the connections belong to the redis plugin, which closes them
  }
}

function variantId (f: AppendFeatures): string {
  return `${+f.once}${+f.limited}${+f.adapter}${+f.archive}`
}

/** Stream entries `[id, ['d', body]]` as messages. */
export function toMessages (entries: Entry[]): Message[] {
  const out = new Array<Message>(entries.length)
  for (let i = 0; i < entries.length; i++) {
    const [id, fields] = entries[i]
    out[i] = messageFrom(id, fieldValue(fields, 'd'))
  }
  return out
}

function fieldValue (fields: string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return '{}'
}
