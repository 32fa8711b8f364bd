/**
 * HistoryStore on Redis Streams. One stream per room holds its history (trimmed to
 * HISTORY_MAX_MESSAGES); a Lua script appends, records the idempotency key and PUBLISHes the
 * message in one atomic step, so every instance receives messages in history order. Each
 * instance relays that channel to its local sockets (see realtime/relay).
 *
 * With the redis-streams Socket.IO adapter (`adapter` option) the same script also appends the
 * `message:new` broadcast to the adapter's stream, in the format of Socket.IO's own
 * redis-streams emitter. Socket.IO then emits it on every instance, stamped with its stream
 * offset, so connection state recovery replays missed messages too; and the adapter stream's
 * order is history order, because both XADDs happen in one script.
 */
import type { Redis, Cluster } from 'ioredis'
import type { Message } from '../../schemas/common.js'
import type { Keys } from '../keys.js'
import { storeError } from './errors.js'
import { appError } from '../../errors.js'
import { takeTokenLua } from './rate-limit.js'
import { confirmReplicas } from './replicas.js'
import {
  compareIds, draftBody, IDEMPOTENCY_TTL_MS, messageFrom, messageOf, parseId, sendLimited, type SendLimit,
  type AppendResult, type Delivery, type HistoryStore, type MessageDraft, type MessageListener,
  type RangeQuery, type RangeResult, type SinceResult
} from '../history.js'

/*
 * KEYS[1] room stream, KEYS[2] room meta hash, KEYS[3] idempotency key (same slot),
 * KEYS[4] the Socket.IO adapter's stream when ARGV[7] == '1' (otherwise KEYS[1] again, unused)
 * ARGV[1] message body JSON without id/at, ARGV[2] trim mode '~' or '=', ARGV[3] max length,
 * ARGV[4] idempotency TTL ms, ARGV[5] channel, ARGV[6] '1' when KEYS[3] is to be used,
 * ARGV[7] '1' to append to KEYS[4], ARGV[8] / ARGV[9] the adapter envelope before / after the
 * message JSON, ARGV[10] the adapter stream's approximate max length,
 * KEYS[5] the sender's token bucket when ARGV[11] == '1' (otherwise KEYS[1] again, unused),
 * ARGV[12] its burst, ARGV[13] its refill per second,
 * ARGV[14] the write deadline on Redis' clock (epoch ms; '0' for none),
 * ARGV[15] '1' with the PostgreSQL archive (issue 16): then KEYS[6] is the set of rooms with
 * unarchived messages, ARGV[17] this room's id, ARGV[16] the archive's newest id of the room ('' =
 * not looked up; '0-0' = none), which a new epoch must start after
 * Returns { 1, json } for a repeat (nothing written, nothing published, no token taken),
 * { 2, retryAfterMs } when the sender is over its limit (nothing written),
 * { 3, 0 } when the script runs after its deadline (nothing written: the sender was already told
 * `unavailable`, e.g. Redis was frozen with the command in flight), { 4, 0 } when a new epoch
 * would start and the archive's newest id is needed (ARGV[16], nothing written), { 0, json } otherwise.
 * Folding the send limit in saves a round trip per message; it is only used where KEYS[5] may
 * sit on another slot than the room's keys, i.e. not on Redis Cluster (see limitsSends).
 *
 * Check, append, record and publish run as one script: a retry racing the original sees the
 * idempotency key or writes it, never neither; and the PUBLISH (and adapter XADD) order is the
 * history order. A stream that does not exist yet starts a new epoch: its first id is kept in
 * meta.start, so a `since` older than it is known to predate a reset (stream deleted, Redis
 * flushed); ids come from Redis's clock, so that holds as long as the clock does not go back.
 * HSETNX re-seeds a lost meta hash on an old stream (conservatively: from here on).
 */
const APPEND = `
if ARGV[14] ~= '0' then
  local clock = redis.call('TIME')
  if tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) > tonumber(ARGV[14]) then return { 3, 0 } end
end
if ARGV[6] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return { 1, seen } end
end
if ARGV[15] == '1' and ARGV[16] == '' and redis.call('EXISTS', KEYS[1]) == 0 then return { 4, 0 } end
if ARGV[11] == '1' then
  -- the sender's token bucket, the same step as the rate-limit store's
  ${takeTokenLua('KEYS[5]', 'ARGV[12]', 'ARGV[13]', 2)}
end
local id
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- a new epoch starts after every id of the old one: old ids are at most max(now, the old
  -- start) (XADD * only runs ahead of the clock from a start that did), so one ms past that.
  -- After a flush the old start is gone too; then only an epoch begun in this very ms could
  -- collide.
  local now = redis.call('TIME')
  local base = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local old = redis.call('HGET', KEYS[2], 'start')
  if old then base = math.max(base, tonumber(string.match(old, '^(%d+)-'))) end
  -- with the archive, after every archived id too (Redis lost the room, the archive did not)
  if ARGV[16] ~= '' then base = math.max(base, tonumber(string.match(ARGV[16], '^(%d+)-'))) end
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], ARGV[3], string.format('%.0f', base + 1) .. '-0', 'd', ARGV[1])
  redis.call('HSET', KEYS[2], 'start', id)
  -- the archiver's count belongs to the old stream; floor: what the archive held before this epoch
  if ARGV[15] == '1' then redis.call('HDEL', KEYS[2], 'archivedn', 'gap') redis.call('HSET', KEYS[2], 'floor', ARGV[16]) end
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], ARGV[3], '*', 'd', ARGV[1])
  redis.call('HSETNX', KEYS[2], 'start', id)
end
if ARGV[15] == '1' then redis.call('SADD', KEYS[6], ARGV[17]) end
local ms = string.match(id, '^(%d+)-')
local json = '{"id":"' .. id .. '",' .. string.sub(ARGV[1], 2, -2) .. ',"at":' .. ms .. '}'
if ARGV[6] == '1' then redis.call('SET', KEYS[3], json, 'PX', ARGV[4]) end
redis.call('PUBLISH', ARGV[5], json)
if ARGV[7] == '1' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', 'uid', 'emitter', 'nsp', '/', 'type', '3', 'data', ARGV[8] .. json .. ARGV[9])
end
return { 0, json }
`

/*
 * KEYS[1] room stream, KEYS[2] room meta hash
 * ARGV[1] since id (exclusive), ARGV[2] count
 * Returns { start|false, firstKeptId|false, entries }, read in one step so that the epoch, the
 * trim point and the entries agree. (XINFO's max-deleted-entry-id is not moved by MAXLEN
 * trimming, so the oldest kept entry is the trim point.)
 */
const SINCE = `
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if first == nil then return { false, false, {} } end
local start = redis.call('HGET', KEYS[2], 'start')
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return { start, first[1], entries }
`

export type Entry = [id: string, fields: string[]]

interface ScriptedClient {
  sbAppend: (
    stream: string, meta: string, idem: string, adapterStream: string, bucket: string, dirty: string,
    body: string, mode: string, maxLen: number, ttl: number, channel: string, useIdem: string,
    useAdapter: string, envelopeHead: string, envelopeTail: string, adapterMaxLen: number,
    useLimit: string, burst: number, perSecond: number, deadline: string,
    useArchive: string, floor: string, roomId: string
  ) => Promise<[number, string | number]>
  sbSince: (stream: string, meta: string, sinceId: string, count: number) => Promise<[string | null, string | null, Entry[]]>
}

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
  /** false on Redis Cluster, where the sender's bucket and the room's keys sit on different slots */
  foldSendLimit?: boolean
  /**
   * The deadline of an append issued now, on Redis' clock (epoch ms; 0 for none): an append that
   * Redis runs later writes nothing, so an `unavailable` answer always means "not written"
   */
  writeDeadline?: () => number
  /** with the PostgreSQL archive (issue 16): see ArchiveHook */
  archive?: ArchiveHook
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
  readonly #writeDeadline: () => number
  readonly #archive: ArchiveHook | undefined
  readonly #listeners: MessageListener[] = []
  readonly #gapListeners: Array<(resumed: Promise<void>) => void> = []
  #subscribed: Promise<unknown> | undefined
  readonly delivery: Delivery
  readonly limitsSends: boolean

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
    this.limitsSends = opts.foldSendLimit ?? true
    if (!('sbAppend' in this.#client)) {
      this.#client.defineCommand('sbAppend', { numberOfKeys: 6, lua: APPEND })
      this.#client.defineCommand('sbSince', { numberOfKeys: 2, lua: SINCE })
    }
  }

  get #scripts (): ScriptedClient {
    return this.#client as unknown as ScriptedClient
  }

  async append (draft: MessageDraft, limit?: SendLimit): Promise<AppendResult> {
    const k = this.#keys
    const useIdem = draft.clientMsgId !== undefined
    const adapter = this.#adapter
    const stream = k.roomHistory(draft.roomId)
    const useLimit = limit !== undefined && this.limitsSends
    const archive = this.#archive
    let floor = ''
    let dup: number
    let reply: string | number
    for (;;) {
      try {
        [dup, reply] = await this.#scripts.sbAppend(
          stream,
          k.roomMeta(draft.roomId),
          k.idempotency(draft.roomId, draft.userId, draft.clientMsgId ?? '', draft.sender),
          adapter?.key ?? stream,
          useLimit ? limit.key : stream,
          archive?.dirtyKey ?? stream,
          draftBody(draft), archive !== undefined ? '~' : this.#trimMode, archive?.backlogMaxLen ?? this.#maxLen, IDEMPOTENCY_TTL_MS,
          k.messagesChannel, useIdem ? '1' : '0',
          adapter !== undefined ? '1' : '0', ENVELOPE_HEAD, envelopeTail(draft.roomId), adapter?.maxLen ?? 0,
          useLimit ? '1' : '0', limit?.rule.burst ?? 0, limit?.rule.perSecond ?? 0,
          String(Math.max(0, this.#writeDeadline())),
          archive !== undefined ? '1' : '0', floor, draft.roomId
        )
      } catch (err) {
        throw storeError(err)
      }
      // a new epoch (the room's stream is gone): learn the archive's newest id first (issue 16)
      if (dup !== 4 || archive === undefined || floor !== '') break
      floor = await archive.newest(draft.roomId)
    }
    if (dup === 2) throw sendLimited(Number(reply))
    if (dup === 3) throw appError('unavailable', 'storage did not answer in time, nothing was written; retry later')
    await confirmReplicas(this.#client, stream) // REDIS_WAIT_REPLICAS: N replicas hold it (SPEC §2)
    // the script returns exactly the JSON it published; for a new message the draft already
    // holds everything but the position, so only a repeat needs parsing
    if (dup === 1) return { message: JSON.parse(reply as string) as Message, duplicate: true }
    const id = String(reply).slice(7, String(reply).indexOf('"', 7))
    return { message: messageOf(id, parseId(id)[0], draft), duplicate: false }
  }

  async range (roomId: string, q: RangeQuery): Promise<RangeResult> {
    const key = this.#keys.roomHistory(roomId)
    const count = q.limit + 1
    try {
      if (q.after !== undefined) {
        if (q.before !== undefined && compareIds(q.after, q.before) >= 0) return { messages: [], hasMore: false }
        const end = q.before !== undefined ? `(${q.before}` : '+'
        const entries = await this.#client.xrange(key, `(${q.after}`, end, 'COUNT', count) as Entry[]
        const hasMore = entries.length > q.limit
        return { messages: toMessages(hasMore ? entries.slice(0, q.limit) : entries), hasMore }
      }
      // nothing precedes 0-0, and Redis refuses it as an exclusive end
      if (q.before !== undefined && compareIds(q.before, '0-1') < 0) return { messages: [], hasMore: false }
      const end = q.before !== undefined ? `(${q.before}` : '+'
      const entries = await this.#client.xrevrange(key, end, '-', 'COUNT', count) as Entry[]
      const hasMore = entries.length > q.limit
      const page = hasMore ? entries.slice(0, q.limit) : entries
      return { messages: toMessages(page.reverse()), hasMore }
    } catch (err) {
      throw storeError(err)
    }
  }

  async since (roomId: string, sinceId: string, limit: number): Promise<SinceResult> {
    try {
      const [start, first, entries] = await this.#scripts.sbSince(
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

  async has (roomId: string, id: string): Promise<boolean> {
    try {
      const entries = await this.#client.xrange(this.#keys.roomHistory(roomId), id, id, 'COUNT', 1)
      return entries.length > 0
    } catch (err) {
      throw storeError(err)
    }
  }

  onMessage (listener: MessageListener): void {
    this.#listeners.push(listener)
    if (this.#subscribed !== undefined) return
    const channel = this.#keys.messagesChannel
    this.#sub.on('message', (ch: string, json: string) => {
      if (ch !== channel) return
      let message: Message
      try {
        message = JSON.parse(json) as Message
      } catch {
        return
      }
      for (const l of this.#listeners) l(message)
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

  onGap (listener: (resumed: Promise<void>) => void): void {
    this.#gapListeners.push(listener)
  }

  /** Resolves once the relay subscription is active (or has failed and will be retried). */
  async ready (): Promise<void> {
    await this.#subscribed
  }

  async close (): Promise<void> {
    this.#listeners.length = 0
    this.#gapListeners.length = 0
    // the connections belong to the redis plugin, which closes them
  }
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
