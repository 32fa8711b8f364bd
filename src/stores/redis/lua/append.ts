/**
 * The history append (SPEC §4, §8): check, append, record and publish as one script, so a retry
 * racing the original sees the idempotency key or writes it, never neither, and the PUBLISH (on
 * Cluster the SPUBLISH on the room's shard channel; and the adapter XADD) order is the history
 * order. One variant is composed per feature set, so no script carries flags or unused keys:
 *
 * - `once`: the draft has a clientMsgId; a repeat within the window returns the first message;
 * - `limited`: the sender's token bucket is checked here (after the idempotency check, so a
 *   repeat costs no token); only where the bucket shares a node with the room (not on Cluster);
 * - `adapter`: the broadcast also goes to the Socket.IO redis-streams adapter's stream, in the
 *   format of @socket.io/redis-streams-emitter, so recovery replays it in history order;
 * - `archive`: the room is marked for the PostgreSQL archiver, and a new epoch starts after the
 *   archive's newest id (which the caller looks up when asked: `needs_floor`).
 *
 * A stream that does not exist yet starts a new epoch: its first id is kept in meta.start, so a
 * `since` older than it is known to predate a reset (stream deleted, Redis flushed); ids come
 * from Redis' clock, so that holds as long as the clock does not go back. HSETNX re-seeds a lost
 * meta hash on an old stream (conservatively: from here on).
 */
import type { RedisValue } from 'ioredis'
import { NOW_MS, PAST } from './clock.js'
import { TAKE_TOKEN } from './rate-limit.js'
import { args, locals, type Script, type Slot } from './script.js'

export interface AppendFeatures { once: boolean, limited: boolean, adapter: boolean, archive: boolean }

/**
 * - `appended`: stored and published; its id (the caller has the rest: the JSON is not sent back);
 * - `duplicate`: a repeat; the first message's JSON (nothing written, no token taken);
 * - `limited`: the sender is over its limit; the wait in ms (nothing written);
 * - `late`: Redis ran the script after its deadline (nothing written: the sender was already
 *   told `unavailable`, e.g. Redis was frozen with the command in flight);
 * - `needs_floor`: a new epoch would start and the archive's newest id is needed (nothing written).
 */
export type AppendReply =
  | ['appended', id: string]
  | ['duplicate', json: string]
  | ['limited', retryAfterMs: number]
  | ['late']
  | ['needs_floor']

type KeyName = 'stream' | 'meta' | 'idem_key' | 'bucket' | 'adapter_stream' | 'dirty_rooms'
type ArgName = 'body' | 'trim_mode' | 'max_len' | 'publish' | 'channel' | 'deadline' | 'idem_ttl' | 'burst' | 'per_second'
  | 'envelope_head' | 'envelope_tail' | 'adapter_max_len' | 'floor' | 'room_id'
export type AppendValues = Partial<Record<KeyName | ArgName, RedisValue>>

function slots (f: AppendFeatures): { keys: Array<Slot<KeyName>>, argv: Array<Slot<ArgName>> } {
  const keys: Array<Slot<KeyName>> = [
    { name: 'stream', doc: 'the room\'s history stream' },
    { name: 'meta', doc: 'the room\'s meta hash (start; with the archive floor, archivedn, gap)' }
  ]
  const argv: Array<Slot<ArgName>> = [
    { name: 'body', doc: 'the message JSON without id and at' },
    { name: 'trim_mode', doc: '\'~\' (approximate) or \'=\'' },
    { name: 'max_len', doc: 'the stream\'s max length' },
    { name: 'publish', doc: '\'PUBLISH\' (one channel for every room) or \'SPUBLISH\' (Cluster: the room\'s own shard channel, in its hash tag)' },
    { name: 'channel', doc: 'the messages channel' },
    { name: 'deadline', doc: 'epoch ms on Redis\' clock after which nothing is written; \'0\' for none' }
  ]
  if (f.once) {
    keys.push({ name: 'idem_key', doc: 'the idempotency key (same slot)' })
    argv.push({ name: 'idem_ttl', doc: 'its TTL, ms' })
  }
  if (f.limited) {
    keys.push({ name: 'bucket', doc: 'the sender\'s token bucket (same node)' })
    argv.push({ name: 'burst', doc: 'its capacity' }, { name: 'per_second', doc: 'its refill per second' })
  }
  if (f.adapter) {
    keys.push({ name: 'adapter_stream', doc: 'the Socket.IO redis-streams adapter\'s stream' })
    argv.push(
      { name: 'envelope_head', doc: 'the adapter envelope before the message JSON' },
      { name: 'envelope_tail', doc: 'the adapter envelope after it' },
      { name: 'adapter_max_len', doc: 'the adapter stream\'s approximate max length' })
  }
  if (f.archive) {
    keys.push({ name: 'dirty_rooms', doc: 'the set of rooms with unarchived messages' })
    argv.push(
      { name: 'floor', doc: 'the archive\'s newest id of the room (\'\' = not looked up, \'0-0\' = none)' },
      { name: 'room_id', doc: 'this room, its member in dirty_rooms' })
  }
  return { keys, argv }
}

function body (f: AppendFeatures): string {
  const when = (on: boolean, lua: string): string => on ? lua : ''
  return NOW_MS + PAST + when(f.limited, TAKE_TOKEN) + `
if past(deadline) then return { 'late' } end
` + when(f.once, `
local seen = redis.call('GET', idem_key)
if seen then return { 'duplicate', seen } end
`) + when(f.archive, `
if floor == '' and redis.call('EXISTS', stream) == 0 then return { 'needs_floor' } end
`) + when(f.limited, `
local wait = take_token(bucket, tonumber(burst), tonumber(per_second))
if wait then return { 'limited', wait } end
`) + `
-- NOMKSTREAM: no stream, no write (one command where EXISTS then XADD were two)
local id = redis.call('XADD', stream, 'NOMKSTREAM', 'MAXLEN', trim_mode, max_len, '*', 'd', body)
if not id then
  -- a new epoch starts after every id of the old one: old ids are at most max(now, the old
  -- start) (XADD * only runs ahead of the clock from a start that did), so one ms past that.
  -- After a flush the old start is gone too; then only an epoch begun in this very ms could
  -- collide.
  local base = now_ms()
  local old = redis.call('HGET', meta, 'start')
  if old then base = math.max(base, tonumber(string.match(old, '^(%d+)-'))) end
` + when(f.archive, `
  -- after every archived id too (Redis lost the room, the archive did not)
  base = math.max(base, tonumber(string.match(floor, '^(%d+)-')))
`) + `
  id = redis.call('XADD', stream, 'MAXLEN', trim_mode, max_len, string.format('%.0f', base + 1) .. '-0', 'd', body)
  redis.call('HSET', meta, 'start', id)
` + when(f.archive, `
  -- the archiver's count belongs to the old stream; floor: what the archive held before this epoch
  redis.call('HDEL', meta, 'archivedn', 'gap')
  redis.call('HSET', meta, 'floor', floor)
`) + `
else
  redis.call('HSETNX', meta, 'start', id)
end
` + when(f.archive, `
redis.call('SADD', dirty_rooms, room_id)
`) + `
local ms = string.match(id, '^(%d+)-')
local json = '{"id":"' .. id .. '",' .. string.sub(body, 2, -2) .. ',"at":' .. ms .. '}'
` + when(f.once, `
redis.call('SET', idem_key, json, 'PX', idem_ttl)
`) + `
redis.call(publish, channel, json)
` + when(f.adapter, `
redis.call('XADD', adapter_stream, 'MAXLEN', '~', adapter_max_len, '*', 'uid', 'emitter', 'nsp', '/', 'type', '3', 'data', envelope_head .. json .. envelope_tail)
`) + `
return { 'appended', id }
`
}

/** The command name of a variant: `sbAppend` plus its features, e.g. `sbAppendOnceLimited`. */
export type AppendCommand = `sbAppend${'' | 'Once'}${'' | 'Limited'}${'' | 'ToAdapter'}${'' | 'Archived'}`

export interface AppendVariant {
  script: Script & { name: AppendCommand, numberOfKeys: number }
  /** the variant's KEYS then ARGV, in its order */
  args: (values: AppendValues) => RedisValue[]
}

/** The append script for a feature set (built once per set by the caller). */
export function appendVariant (f: AppendFeatures): AppendVariant {
  const { keys, argv } = slots(f)
  const name: AppendCommand = `sbAppend${f.once ? 'Once' : ''}${f.limited ? 'Limited' : ''}${f.adapter ? 'ToAdapter' : ''}${f.archive ? 'Archived' : ''}`
  return {
    script: { name, numberOfKeys: keys.length, lua: locals(keys, argv) + body(f) },
    args: values => [...args(keys, values), ...args(argv, values)]
  }
}
