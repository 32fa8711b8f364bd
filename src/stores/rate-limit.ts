/**
 * RateLimitStore: the counters behind SPEC §7's limits, in memory (one instance) or in Redis
 * (shared by every instance). The arithmetic is src/model/rate-window.ts; the Redis store runs
 * the same in Lua. Both stores pass test/stores/rate-limit.contract.ts.
 */
import type { RateLimitDecision, TokenBucketRule, WindowRule } from '../model/rate-window.js'

export interface RateLimitStore {
  /** Takes one token from the bucket at `key` (a key from stores/keys.ts). */
  take: (key: string, rule: TokenBucketRule) => Promise<RateLimitDecision>
  /** Counts one event in the sliding window at `key`; a refused event is not counted. */
  hit: (key: string, rule: WindowRule) => Promise<RateLimitDecision>
  close: () => Promise<void>
}
