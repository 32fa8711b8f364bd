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
