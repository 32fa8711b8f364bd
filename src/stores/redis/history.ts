/**
 * HistoryStore on Redis Streams. One stream per room holds its history (trimmed to
 * HISTORY_MAX_MESSAGES); a Lua script appends, records the idempotency key and PUBLISHes the
 * message in one atomic step, so every instance receives messages in history order. Each
 * instance relays that channel to its local sockets (see realtime/relay).
 */
import type { Redis, Cluster } from 'ioredis'
import type { Message } from '../../schemas/common.js'
import type { Keys } from '../keys.js'
import { storeError } from './errors.js'
import {
  compareIds, draftBody, IDEMPOTENCY_TTL_MS, messageFrom,
  type AppendResult, type HistoryStore, type MessageDraft, type MessageListener,
  type RangeQuery, type RangeResult, type SinceResult
} from '../history.js'

/*
 * KEYS[1] room stream, KEYS[2] room meta hash, KEYS[3] idempotency key (same slot)
 * ARGV[1] message body JSON without id/at, ARGV[2] trim mode '~' or '=', ARGV[3] max length,
 * ARGV[4] idempotency TTL ms, ARGV[5] channel, ARGV[6] '1' when KEYS[3] is to be used
 * Returns { 1, json } for a repeat (nothing written, nothing published), { 0, json } otherwise.
 * A stream that does not exist yet starts a new epoch: its first id is kept in meta.start, so a
 * `since` older than it is known to have lost messages (history reset or flushed).
 */
const APPEND = `
if ARGV[6] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return { 1, seen } end
end
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], ARGV[3], '*', 'd', ARGV[1])
if fresh then redis.call('HSET', KEYS[2], 'start', id) end
local ms = string.match(id, '^(%d+)-')
local json = '{"id":"' .. id .. '",' .. string.sub(ARGV[1], 2, -2) .. ',"at":' .. ms .. '}'
if ARGV[6] == '1' then redis.call('SET', KEYS[3], json, 'PX', ARGV[4]) end
redis.call('PUBLISH', ARGV[5], json)
return { 0, json }
`

/*
 * KEYS[1] room stream, KEYS[2] room meta hash
 * ARGV[1] since id (exclusive), ARGV[2] count
 * Returns { start|nil, maxDeletedId, entries }; read in one step so the epoch, the trim
 * watermark and the entries agree with each other.
 */
const SINCE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return { false, '0-0', {} } end
local start = redis.call('HGET', KEYS[2], 'start')
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local maxDeleted = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then maxDeleted = info[i + 1] end
end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return { start, maxDeleted, entries }
`

type Entry = [id: string, fields: string[]]

interface ScriptedClient {
  sbAppend: (stream: string, meta: string, idem: string, body: string, mode: string, maxLen: number, ttl: number, channel: string, useIdem: string) => Promise<[number, string]>
  sbSince: (stream: string, meta: string, sinceId: string, count: number) => Promise<[string | null, string, Entry[]]>
}

export interface RedisHistoryOptions {
  client: Redis | Cluster
  /** a connection in subscriber mode, owned by the caller */
  subscriber: Redis | Cluster
  keys: Keys
  maxLen: number
}

export class RedisHistoryStore implements HistoryStore {
  readonly #client: Redis | Cluster
  readonly #sub: Redis | Cluster
  readonly #keys: Keys
  readonly #maxLen: number
  readonly #trimMode: string
  readonly #listeners: MessageListener[] = []
  #subscribed: Promise<unknown> | undefined

  constructor (opts: RedisHistoryOptions) {
    this.#client = opts.client
    this.#sub = opts.subscriber
    this.#keys = opts.keys
    this.#maxLen = opts.maxLen
    // exact trim for small histories (tests, tiny rooms); approximate (cheap) otherwise
    this.#trimMode = opts.maxLen >= 1000 ? '~' : '='
    if (!('sbAppend' in this.#client)) {
      this.#client.defineCommand('sbAppend', { numberOfKeys: 3, lua: APPEND })
      this.#client.defineCommand('sbSince', { numberOfKeys: 2, lua: SINCE })
    }
  }

  get #scripts (): ScriptedClient {
    return this.#client as unknown as ScriptedClient
  }

  async append (draft: MessageDraft): Promise<AppendResult> {
    const k = this.#keys
    const useIdem = draft.clientMsgId !== undefined
    try {
      const [dup, json] = await this.#scripts.sbAppend(
        k.roomHistory(draft.roomId),
        k.roomMeta(draft.roomId),
        k.idempotency(draft.roomId, draft.userId, draft.clientMsgId ?? ''),
        draftBody(draft), this.#trimMode, this.#maxLen, IDEMPOTENCY_TTL_MS,
        k.messagesChannel, useIdem ? '1' : '0'
      )
      return { message: JSON.parse(json) as Message, duplicate: dup === 1 }
    } catch (err) {
      throw storeError(err)
    }
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
      const [start, maxDeleted, entries] = await this.#scripts.sbSince(
        this.#keys.roomHistory(roomId), this.#keys.roomMeta(roomId), sinceId, limit + 1)
      const hasMore = entries.length > limit
      const missed = toMessages(hasMore ? entries.slice(0, limit) : entries)
      // recovered only when this epoch began at or before `since` and nothing after it was trimmed
      const recovered = start !== null && compareIds(sinceId, start) >= 0 && compareIds(sinceId, maxDeleted) >= 0
      return { missed, hasMore, recovered }
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
    // ioredis re-subscribes by itself after a reconnect
    this.#subscribed = this.#sub.subscribe(channel).catch(() => {})
  }

  /** Resolves once the relay subscription is active (or has failed and will be retried). */
  async ready (): Promise<void> {
    await this.#subscribed
  }

  async close (): Promise<void> {
    this.#listeners.length = 0
    // the connections belong to the redis plugin, which closes them
  }
}

function toMessages (entries: Entry[]): Message[] {
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
