/**
 * sbReceiptMark (SPEC §5 receipts): checks that the message is in the room's history and
 * compare-and-sets the user's receipt, in one step. The receipts hash sits next to the history
 * stream under the room's hash tag, so both keys are on one slot.
 */
import { locals, type Script, type Slot } from './script.js'
import { PAST } from './clock.js'

/**
 * `not_found`: not in history; `unchanged`: the stored receipt is at or past it; `advanced`:
 * stored; `late`: Redis ran it after its deadline (nothing written: the reader was already
 * answered `unavailable`, SPEC §4).
 */
export type MarkReply = 'not_found' | 'unchanged' | 'advanced' | 'late'

export const MARK_KEYS = [
  { name: 'receipts', doc: 'the room\'s receipts hash, user id → last-read id' },
  { name: 'stream', doc: 'the room\'s history stream (same slot)' }
] as const satisfies Slot[]
export const MARK_ARGV = [
  { name: 'user_id', doc: 'the reader' },
  { name: 'message_id', doc: 'canonical <ms>-<seq>' },
  { name: 'deadline', doc: 'epoch ms on Redis\' clock after which nothing is written; \'0\' for none' }
] as const satisfies Slot[]

export const MARK: Script = {
  name: 'sbReceiptMark',
  numberOfKeys: MARK_KEYS.length,
  // ids are compared as numbers: both parts have at most 15 digits (schema), exact in a Lua double
  lua: locals(MARK_KEYS, MARK_ARGV) + PAST + `
if past(deadline) then return 'late' end
if #redis.call('XRANGE', stream, message_id, message_id, 'COUNT', 1) == 0 then return 'not_found' end
local cur = redis.call('HGET', receipts, user_id)
if cur then
  local cm, cs = string.match(cur, '^(%d+)-(%d+)$')
  local nm, ns = string.match(message_id, '^(%d+)-(%d+)$')
  cm, cs, nm, ns = tonumber(cm), tonumber(cs), tonumber(nm), tonumber(ns)
  if nm < cm or (nm == cm and ns <= cs) then return 'unchanged' end
end
redis.call('HSET', receipts, user_id, message_id)
return 'advanced'
`
}
