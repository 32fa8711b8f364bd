/**
 * The history reads that must see a room's stream and its meta hash in one step (same hash tag),
 * so that the epoch, the trim point and the entries agree.
 */
import { locals, type Script, type Slot } from './script.js'

/** A stream entry as Redis returns it: `[id, [field, value, …]]`. */
export type Entry = [id: string, fields: string[]]

export const ROOM_KEYS = [
  { name: 'stream', doc: 'the room\'s history stream' },
  { name: 'meta', doc: 'the room\'s meta hash (start = the epoch\'s first id; floor, gap: see the archive)' }
] as const satisfies Slot[]

/** `[start, oldest kept id, entries after since]`; start and oldest are null for an empty room. */
export type SinceReply = [start: string | null, first: string | null, entries: Entry[]]

export const SINCE_ARGV = [
  { name: 'since_id', doc: 'exclusive lower bound' },
  { name: 'count', doc: 'most entries to return' }
] as const satisfies Slot[]

/**
 * sbSince: catch-up (SPEC §5 room:join with since). XINFO's max-deleted-entry-id is not moved by
 * MAXLEN trimming, so the oldest kept entry is the trim point.
 */
export const SINCE: Script = {
  name: 'sbSince',
  numberOfKeys: ROOM_KEYS.length,
  lua: locals(ROOM_KEYS, SINCE_ARGV) + `
local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
if first == nil then return { false, false, {} } end
local start = redis.call('HGET', meta, 'start')
local entries = redis.call('XRANGE', stream, '(' .. since_id, '+', 'COUNT', count)
return { start, first[1], entries }
`
}

/** `[oldest kept id, meta.start, meta.floor, meta.gap]`, each null when absent. */
export type SpanReply = [first: string | null, start: string | null, floor: string | null, gap: string | null]

/** sbSpan: what Redis holds of a room, for the archive's reads (archived-history.ts). */
export const SPAN: Script = {
  name: 'sbSpan',
  numberOfKeys: ROOM_KEYS.length,
  lua: locals(ROOM_KEYS, []) + `
local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
local m = redis.call('HMGET', meta, 'start', 'floor', 'gap')
return { first and first[1] or false, m[1], m[2], m[3] }
`
}
