/**
 * The archiver's scripts on the room streams (issue 16), each over all the rooms of one round
 * (the archiver's batch; the archive runs on a single Redis, never a Cluster, so one script may
 * touch many rooms):
 *
 * - `sbArchiveRead`: every room's entries after its high-water mark `meta.archived`, as the
 *   archived messages' JSON (the stored body with id and at spliced in, exactly as the append
 *   publishes it: src/stores/history.ts messageJson), one string per room, so the archiver parses
 *   and builds nothing per message;
 * - `sbArchiveCommit`: the bookkeeping: the mark and `meta.archivedn` (how many of the stream's
 *   entries-added, XINFO, Redis >= 7.0, are archived or gone, so lag = entries-added - archivedn
 *   in O(1)); for a room with an id it moves the mark forward (never back: two instances may
 *   archive one room) and trims the stream to HISTORY_MAX_MESSAGES, never past the mark; for a
 *   room with '' it only measures (and notices losses).
 */
import { locals, type Script, type Slot } from './script.js'

/** Per room, in order: its entries read, the last one's id ('' when none), their JSON joined by ',' (a JSON array's inside). */
export type ArchiveReadReply = Array<number | string>
/** Per room, in order: messages still to archive, and messages found dropped unarchived (the backlog bound) by this call. */
export type ArchiveCommitReply = number[]

const READ_KEYS = [
  { name: 'first_stream', doc: 'the first room\'s history stream; KEYS are pairs (stream, meta), one per room' }
] as const satisfies Slot[]
const READ_ARGV = [
  { name: 'count', doc: 'entries read per room at most' }
] as const satisfies Slot[]
const COMMIT_KEYS = [
  { name: 'dirty_rooms', doc: 'the set of rooms with unarchived messages; then pairs (stream, meta), one per room' }
] as const satisfies Slot[]
const COMMIT_ARGV = [
  { name: 'max_len', doc: 'HISTORY_MAX_MESSAGES: what to trim a stream down to; then pairs (room id, the newest id just archived or \'\' to only measure)' }
] as const satisfies Slot[]

export const ARCHIVE_READ: Script = {
  name: 'sbArchiveRead',
  lua: locals(READ_KEYS, READ_ARGV) + `
local out = {}
for i = 1, #KEYS, 2 do
  local mark = redis.call('HGET', KEYS[i + 1], 'archived') or '0-0'
  local entries = redis.call('XRANGE', KEYS[i], '(' .. mark, '+', 'COUNT', count)
  local jsons = {}
  for j = 1, #entries do
    local id, f = entries[j][1], entries[j][2]
    -- field 'd' wherever it is ('{}' when absent, as the reads do)
    local body = '{}'
    for k = 1, #f, 2 do if f[k] == 'd' then body = f[k + 1] break end end
    local ms = string.match(id, '^(%d+)-')
    if #body > 2 then
      jsons[j] = '{"id":"' .. id .. '",' .. string.sub(body, 2, -2) .. ',"at":' .. ms .. '}'
    else
      jsons[j] = '{"id":"' .. id .. '","at":' .. ms .. '}'
    end
  end
  out[#out + 1] = #entries
  out[#out + 1] = #entries > 0 and entries[#entries][1] or ''
  out[#out + 1] = table.concat(jsons, ',')
end
return out
`
}

/** one room's bookkeeping; `archived_to` '' only measures */
const ROOM = `
local function parse (id) local a, b = string.match(id, '^(%d+)-(%d+)$') return tonumber(a), tonumber(b) end
local function gt (x, y) local xm, xs = parse(x) local ym, ys = parse(y) return xm > ym or (xm == ym and xs > ys) end
local function room (stream, meta, room_id, archived_to)
  if redis.call('EXISTS', stream) == 0 then redis.call('SREM', dirty_rooms, room_id) return 0, 0 end
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
  -- when the oldest kept entry is past the mark, every kept entry is unarchived: any shortfall
  -- was dropped by the backlog bound
  if first and first ~= false and gt(first[1], cur) and added - n > len then
    lost = added - n - len
    n = added - len
    -- readers: messages before this id may be in neither store
    redis.call('HSET', meta, 'gap', first[1])
  end
  if archived_to ~= '' and gt(archived_to, cur) then
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
  redis.call('HSET', meta, 'archived', cur, 'archivedn', n)
  local lag = added - n
  if lag <= 0 then redis.call('SREM', dirty_rooms, room_id) end
  return lag, lost
end
`

export const ARCHIVE_COMMIT: Script = {
  name: 'sbArchiveCommit',
  lua: locals(COMMIT_KEYS, COMMIT_ARGV) + ROOM + `
local out = {}
for i = 2, #KEYS, 2 do
  local lag, lost = room(KEYS[i], KEYS[i + 1], ARGV[i], ARGV[i + 1])
  out[#out + 1] = lag
  out[#out + 1] = lost
end
return out
`
}
