/**
 * RateLimitStore: the counters behind SPEC §7's limits, in memory (one instance) or in Redis
 * (shared by every instance). The arithmetic is src/model/rate-window.ts; the Redis store runs
 * the same in Lua. Both stores pass test/stores/rate-limit.contract.ts.
 */
import type { RateLimitDecision, TokenBucketRule, WindowRule } from '../model/rate-window.js'
import type { Deadline } from '../deadline.js'

export interface RateLimitStore {
  /**
   * Takes one token from the bucket at `key` (a key from stores/keys.ts). `deadline`: the
   * request's (src/deadline.ts, SPEC §8); the Redis call gets only the time left.
   */
  take: (key: string, rule: TokenBucketRule, deadline?: Deadline) => Promise<RateLimitDecision>
  /** Counts one event in the sliding window at `key`; a refused event is not counted. */
  hit: (key: string, rule: WindowRule, deadline?: Deadline) => Promise<RateLimitDecision>
  close: () => Promise<void>
}
