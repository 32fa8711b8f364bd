/**
 * The archiver's bookkeeping on a room stream (issue 16): the high-water mark `meta.archived`
 * and `meta.archivedn` (how many of the stream's entries-added, XINFO, Redis >= 7.0, are
 * archived or gone), so lag = entries-added - archivedn in O(1). Two variants: `sbArchiveMeasure`
 * only measures (and notices losses); `sbArchiveCommit` also moves the mark forward (never back:
 * two instances may archive one room) and trims the stream to HISTORY_MAX_MESSAGES, never past
 * the mark.
 */
import { locals, type Script, type Slot } from './script.js'

/** `[lag, lost]`: messages still to archive, and messages found dropped unarchived (the backlog bound) by this call. */
export type ArchiveReply = [lag: number, lost: number]

const KEYS = [
  { name: 'stream', doc: 'the room\'s history stream' },
  { name: 'meta', doc: 'the room\'s meta hash (archived, archivedn, gap)' },
  { name: 'dirty_rooms', doc: 'the set of rooms with unarchived messages' }
] as const satisfies Slot[]
const MEASURE_ARGV = [
  { name: 'room_id', doc: 'this room, its member in dirty_rooms' }
] as const satisfies Slot[]
const COMMIT_ARGV = [
  ...MEASURE_ARGV,
  { name: 'archived_to', doc: 'the newest id just archived' },
  { name: 'max_len', doc: 'HISTORY_MAX_MESSAGES: what to trim the stream down to' }
] as const satisfies Slot[]

const HEAD = `
local function parse (id) local a, b = string.match(id, '^(%d+)-(%d+)$') return tonumber(a), tonumber(b) end
local function gt (x, y) local xm, xs = parse(x) local ym, ys = parse(y) return xm > ym or (xm == ym and xs > ys) end
if redis.call('EXISTS', stream) == 0 then redis.call('SREM', dirty_rooms, room_id) return { 0, 0 } end
local info = redis.call('XINFO', 'STREAM', stream)
local added, first, len
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1]
  elseif info[i] == 'first-entry' then first = info[i + 1]
  elseif info[i] == 'length' then len = info[i + 1] end
end
local cur = redis.call('HGET', meta, 'archived') or '0-0'
local n = tonumber(redis.call('HGET', meta, 'archivedn') or '-1')
if n < 0 then n = added - #redis.call('XRANGE', stream, '(' .. cur, '+') end
local lost = 0
-- when the oldest kept entry is past the mark, every kept entry is unarchived: any shortfall was
-- dropped by the backlog bound
if first and first ~= false and gt(first[1], cur) and added - n > len then
  lost = added - n - len
  n = added - len
  -- readers: messages before this id may be in neither store
  redis.call('HSET', meta, 'gap', first[1])
end
`

const ADVANCE = `
if gt(archived_to, cur) then
  n = n + #redis.call('XRANGE', stream, '(' .. cur, archived_to)
  cur = archived_to
  -- keep max_len, never trimming past the mark
  local excess = len - tonumber(max_len)
  if excess > 0 then
    local old = redis.call('XRANGE', stream, '-', cur, 'COUNT', excess)
    if #old > 0 then
      local ms, seq = parse(old[#old][1])
      redis.call('XTRIM', stream, 'MINID', string.format('%.0f', ms) .. '-' .. string.format('%.0f', seq + 1))
    end
  end
end
`

const TAIL = `
redis.call('HSET', meta, 'archived', cur, 'archivedn', n)
local lag = added - n
if lag <= 0 then redis.call('SREM', dirty_rooms, room_id) end
return { lag, lost }
`

export const ARCHIVE_MEASURE: Script = {
  name: 'sbArchiveMeasure',
  numberOfKeys: KEYS.length,
  lua: locals(KEYS, MEASURE_ARGV) + HEAD + TAIL
}

export const ARCHIVE_COMMIT: Script = {
  name: 'sbArchiveCommit',
  numberOfKeys: KEYS.length,
  lua: locals(KEYS, COMMIT_ARGV) + HEAD + ADVANCE + TAIL
}
