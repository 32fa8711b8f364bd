/**
 * The rate-limit scripts (SPEC §7). Each decision reads, decides and writes one key atomically on
 * Redis' clock, mirroring model/rate-window.ts line by line; a refusal writes nothing.
 */
import { NOW_MS } from './clock.js'
import { locals, type Script, type Slot } from './script.js'

/**
 * Defines `take_token(bucket, burst, per_second)`: takes one token from the bucket (a hash
 * { t = tokens left, fractional; ts = ms of the last change }) and returns nil, or returns the
 * wait in ms (>= 1) and writes nothing. Mirrors takeToken(); the key expires once the bucket
 * would be full again, which is the same as it not existing. Needs NOW_MS. Shared with the
 * append script, which folds the send limit in.
 */
export const TAKE_TOKEN = `
local function take_token(bucket, burst, per_second)
  local per_ms = per_second / 1000
  local now = now_ms()
  local s = redis.call('HMGET', bucket, 't', 'ts')
  local tokens = burst
  if s[1] then
    tokens = math.min(burst, tonumber(s[1]) + math.max(0, now - tonumber(s[2])) * per_ms)
  end
  if tokens < 1 then
    -- waits are rounded up, ignoring float noise below 1e-6 ms, as in TypeScript
    return math.max(1, math.ceil((1 - tokens) / per_ms - 1e-6))
  end
  redis.call('HSET', bucket, 't', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', bucket, tostring(math.ceil(burst / per_ms)))
  return nil
end
`

/** A limiter's reply: `allowed` (counted), or `limited` with the wait in ms. */
export type LimitReply = ['allowed', 0] | ['limited', number]

export const TAKE_KEYS = [{ name: 'bucket', doc: 'the token bucket hash' }] as const satisfies Slot[]
export const TAKE_ARGV = [
  { name: 'burst', doc: 'capacity (>= 1)' },
  { name: 'per_second', doc: 'refill per second (> 0)' }
] as const satisfies Slot[]

/** sbRateTake: one token from a bucket (takeToken). */
export const TAKE: Script = {
  name: 'sbRateTake',
  numberOfKeys: TAKE_KEYS.length,
  lua: locals(TAKE_KEYS, TAKE_ARGV) + NOW_MS + TAKE_TOKEN + `
local wait = take_token(bucket, tonumber(burst), tonumber(per_second))
if wait then return { 'limited', wait } end
return { 'allowed', 0 }
`
}

export const HIT_KEYS = [
  { name: 'window', doc: 'hash { w = index of the current fixed window, c = events in it, p = events in the previous one }' }
] as const satisfies Slot[]
export const HIT_ARGV = [
  { name: 'limit', doc: 'events per window (>= 1)' },
  { name: 'size', doc: 'window ms (>= 1)' }
] as const satisfies Slot[]

/**
 * sbRateHit: one event in a sliding window counter (hitWindow). A refused event is not counted;
 * the key expires when neither of its windows can matter any more.
 */
export const HIT: Script = {
  name: 'sbRateHit',
  numberOfKeys: HIT_KEYS.length,
  lua: locals(HIT_KEYS, HIT_ARGV) + NOW_MS + `
limit = tonumber(limit)
size = tonumber(size)
local now = now_ms()
local win = math.floor(now / size)
local s = redis.call('HMGET', window, 'w', 'c', 'p')
local cur, prev = 0, 0
if s[1] then
  local w = tonumber(s[1])
  if w == win then
    cur = tonumber(s[2])
    prev = tonumber(s[3])
  elseif w == win - 1 then
    prev = tonumber(s[2])
  end
end
local elapsed = now - win * size
if prev * (size - elapsed) / size + cur + 1 <= limit then
  redis.call('HSET', window, 'w', tostring(win), 'c', tostring(cur + 1), 'p', tostring(prev))
  redis.call('PEXPIRE', window, tostring((win + 2) * size - now))
  return { 'allowed', 0 }
end
local wait
if cur + 1 > limit then
  -- this window is full by itself: wait for the next one, then for this one's weight to decay
  wait = (size - elapsed) + math.ceil(size * (1 - (limit - 1) / cur) - 1e-6)
else
  -- the previous window's weighted count is in the way
  wait = math.ceil(size * (1 - (limit - 1 - cur) / prev) - elapsed - 1e-6)
end
return { 'limited', math.max(1, wait) }
`
}
