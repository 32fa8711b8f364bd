/**
 * RateLimitStore on Redis, shared by every instance: each decision is ONE EVALSHA of a script
 * that reads, decides and writes atomically, on Redis' own clock (TIME), so instances with
 * skewed clocks still agree. Each script touches one key; the keys carry their subject's hash
 * tag (stores/keys.ts), so they stay on one slot in Redis Cluster. Idle keys expire by
 * themselves (PEXPIRE), so memory follows the active subjects.
 */
import type { Redis, Cluster } from 'ioredis'
import { storeError } from './errors.js'
import type { RateLimitDecision, TokenBucketRule, WindowRule } from '../../model/rate-window.js'
import type { RateLimitStore } from '../rate-limit.js'

/*
 * Token bucket; mirrors takeToken() in model/rate-window.ts.
 * KEYS[1] the bucket, a hash { t = tokens left (fractional), ts = ms of the last change }
 * ARGV[1] burst (capacity, >= 1), ARGV[2] refill per second (> 0)
 * Returns { 1, 0 } when a token was taken, { 0, retryAfterMs } when refused (waits are rounded up,
 * ignoring float noise below 1e-6 ms, as in TypeScript). A refusal writes
 * nothing: the refill is computed from ts, so the state stays exact. The key expires once the
 * bucket would be full again, which is the same as it not existing.
 */
const TAKE = `
${takeTokenLua('KEYS[1]', 'ARGV[1]', 'ARGV[2]', 0)}
return { 1, 0 }
`

/**
 * The token-bucket step as a Lua fragment, shared with the history store's append script
 * (which folds the send limit in): takes one token from `key` or returns
 * `{ refusedCode, retryAfterMs }`. Arguments are Lua expressions.
 */
export function takeTokenLua (key: string, burst: string, perSecond: string, refusedCode: number): string {
  return `do
  local burst = tonumber(${burst})
  local perMs = tonumber(${perSecond}) / 1000
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local s = redis.call('HMGET', ${key}, 't', 'ts')
  local tokens = burst
  if s[1] then
    tokens = math.min(burst, tonumber(s[1]) + math.max(0, now - tonumber(s[2])) * perMs)
  end
  if tokens < 1 then
    return { ${refusedCode}, math.max(1, math.ceil((1 - tokens) / perMs - 1e-6)) }
  end
  redis.call('HSET', ${key}, 't', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', ${key}, tostring(math.ceil(burst / perMs)))
end`
}

/*
 * Sliding window counter; mirrors hitWindow() in model/rate-window.ts.
 * KEYS[1] the window, a hash { w = index of the current fixed window, c = events in it,
 *         p = events in the previous one }
 * ARGV[1] limit (>= 1), ARGV[2] window ms (>= 1)
 * Returns { 1, 0 } when the event was counted, { 0, retryAfterMs } when refused (not counted,
 * nothing written). The key expires when neither of its windows can matter any more.
 */
const HIT = `
local limit = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local win = math.floor(now / size)
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
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
  redis.call('HSET', KEYS[1], 'w', tostring(win), 'c', tostring(cur + 1), 'p', tostring(prev))
  redis.call('PEXPIRE', KEYS[1], tostring((win + 2) * size - now))
  return { 1, 0 }
end
local wait
if cur + 1 > limit then
  wait = (size - elapsed) + math.ceil(size * (1 - (limit - 1) / cur) - 1e-6)
else
  wait = math.ceil(size * (1 - (limit - 1 - cur) / prev) - elapsed - 1e-6)
end
return { 0, math.max(1, wait) }
`

interface ScriptedClient {
  sbRateTake: (key: string, burst: number, perSecond: number) => Promise<[number, number]>
  sbRateHit: (key: string, limit: number, windowMs: number) => Promise<[number, number]>
}

export interface RedisRateLimitOptions {
  /** the command connection (no offline queue, command timeout): a decision never waits long */
  client: Redis | Cluster
}

export class RedisRateLimitStore implements RateLimitStore {
  readonly #client: Redis | Cluster

  constructor (opts: RedisRateLimitOptions) {
    this.#client = opts.client
    // registered once per connection: defineCommand sends EVALSHA, and EVAL after a NOSCRIPT
    if (!('sbRateTake' in this.#client)) {
      this.#client.defineCommand('sbRateTake', { numberOfKeys: 1, lua: TAKE })
      this.#client.defineCommand('sbRateHit', { numberOfKeys: 1, lua: HIT })
    }
  }

  get #scripts (): ScriptedClient {
    return this.#client as unknown as ScriptedClient
  }

  async take (key: string, rule: TokenBucketRule): Promise<RateLimitDecision> {
    try {
      const [ok, wait] = await this.#scripts.sbRateTake(key, rule.burst, rule.perSecond)
      return { allowed: ok === 1, retryAfterMs: wait }
    } catch (err) {
      throw storeError(err)
    }
  }

  async hit (key: string, rule: WindowRule): Promise<RateLimitDecision> {
    try {
      const [ok, wait] = await this.#scripts.sbRateHit(key, rule.limit, rule.windowMs)
      return { allowed: ok === 1, retryAfterMs: wait }
    } catch (err) {
      throw storeError(err)
    }
  }

  async close (): Promise<void> {
    // the connection belongs to the redis plugin, which closes it
  }
}
