/**
 * RateLimitStore on Redis, shared by every instance: each decision is ONE EVALSHA of a script
 * that reads, decides and writes atomically, on Redis' own clock (TIME), so instances with
 * skewed clocks still agree. Each script touches one key; the keys carry their subject's hash
 * tag (stores/keys.ts), so they stay on one slot in Redis Cluster. Idle keys expire by
 * themselves (PEXPIRE), so memory follows the active subjects. The scripts: lua/rate-limit.ts.
 */
import type { Redis, Cluster } from 'ioredis'
import { storeError } from './errors.js'
import { atDeadline } from './gate.js'
import type { Deadline } from '../../deadline.js'
import type { RateLimitDecision, TokenBucketRule, WindowRule } from '../../model/rate-window.js'
import type { RateLimitStore } from '../rate-limit.js'
import { HIT, TAKE, type LimitReply } from './lua/rate-limit.js'
import { defineScripts } from './lua/script.js'

export interface RedisRateLimitOptions {
  /** the command connection (no offline queue, command timeout): a decision never waits long */
  client: Redis | Cluster
}

export class RedisRateLimitStore implements RateLimitStore {
  readonly #client: Redis | Cluster

  constructor (opts: RedisRateLimitOptions) {
    this.#client = opts.client
    defineScripts(this.#client, [TAKE, HIT])
  }

  async take (key: string, rule: TokenBucketRule, deadline?: Deadline): Promise<RateLimitDecision> {
    try {
      return decision(await atDeadline(this.#client, deadline).sbRateTake(key, rule.burst, rule.perSecond))
    } catch (err) {
      throw storeError(err)
    }
  }

  async hit (key: string, rule: WindowRule, deadline?: Deadline): Promise<RateLimitDecision> {
    try {
      return decision(await atDeadline(this.#client, deadline).sbRateHit(key, rule.limit, rule.windowMs))
    } catch (err) {
      throw storeError(err)
    }
  }

  async close (): Promise<void> {
    // the connection belongs to the redis plugin, which closes it
  }
}

function decision ([status, wait]: LimitReply): RateLimitDecision {
  return { allowed: status === 'allowed', retryAfterMs: wait }
}
