/**
 * Redis' clock in Lua, written once: every script that measures time uses Redis' TIME, never an
 * instance's clock, so skew between instances cannot change a decision.
 */

/** Defines `now_ms()`: Redis' TIME as epoch milliseconds. Prepend it to a script that needs the time. */
export const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

/**
 * Defines `past(deadline)`: whether Redis' clock is past `deadline` (epoch ms as a decimal string;
 * '0' for none), i.e. `now_ms() > tonumber(deadline)`, and `past_at(t, deadline)`, the same for a
 * TIME reply `t`. It runs on every history append, so it converts no number in the common case:
 * TIME's seconds and the deadline's (all its digits but the last 3) compare as strings when
 * they differ and have as many digits (10 until 2286); only within the deadline's own second, or
 * for an odd deadline, does it compare numbers.
 */
export const PAST = `
local function past_at(t, deadline)
  local s = string.sub(deadline, 1, -4)
  if s ~= t[1] and #s == #t[1] then return t[1] > s end
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(deadline)
end
local function past(deadline)
  if deadline == '0' then return false end
  return past_at(redis.call('TIME'), deadline)
end
`
