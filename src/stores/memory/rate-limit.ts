/**
 * In-process RateLimitStore for the single-instance mode (no REDIS_URL). Same arithmetic as the
 * Redis store (the pure functions of model/rate-window.ts). No timers: entries that can no
 * longer influence a decision are swept during calls, at most once a minute.
 */
import {
  bucketIdleMs, hitWindow, newBucket, newWindow, takeToken, windowExpiresAt,
  type BucketState, type RateLimitDecision, type TokenBucketRule, type WindowRule, type WindowState
} from '../../model/rate-window.js'
import type { RateLimitStore } from '../rate-limit.js'

const SWEEP_EVERY_MS = 60_000

export interface MemoryRateLimitOptions {
  now?: () => number
}

export class MemoryRateLimitStore implements RateLimitStore {
  readonly #buckets = new Map<string, { s: BucketState, expiresAt: number }>()
  readonly #windows = new Map<string, { s: WindowState, expiresAt: number }>()
  readonly #now: () => number
  #lastSweep: number

  constructor (opts: MemoryRateLimitOptions = {}) {
    this.#now = opts.now ?? Date.now
    this.#lastSweep = this.#now()
  }

  async take (key: string, rule: TokenBucketRule): Promise<RateLimitDecision> {
    return this.takeSync(key, rule)
  }

  /** `take` without the promise, for callers that must decide in the same tick (the history store). */
  takeSync (key: string, rule: TokenBucketRule): RateLimitDecision {
    const now = this.#now()
    this.#maybeSweep(now)
    let entry = this.#buckets.get(key)
    if (entry === undefined || entry.expiresAt <= now) {
      entry = { s: newBucket(rule, now), expiresAt: 0 }
      this.#buckets.set(key, entry)
    }
    const wait = takeToken(entry.s, rule, now)
    if (wait > 0) return { allowed: false, retryAfterMs: wait }
    entry.expiresAt = now + bucketIdleMs(rule)
    return { allowed: true, retryAfterMs: 0 }
  }

  async hit (key: string, rule: WindowRule): Promise<RateLimitDecision> {
    const now = this.#now()
    this.#maybeSweep(now)
    let entry = this.#windows.get(key)
    if (entry === undefined) {
      entry = { s: newWindow(), expiresAt: 0 }
      this.#windows.set(key, entry)
    }
    const wait = hitWindow(entry.s, rule, now)
    if (wait > 0) return { allowed: false, retryAfterMs: wait }
    entry.expiresAt = windowExpiresAt(entry.s, rule)
    return { allowed: true, retryAfterMs: 0 }
  }

  /** Number of keys held (for tests: memory stays bounded by the active subjects). */
  get size (): number {
    return this.#buckets.size + this.#windows.size
  }

  async close (): Promise<void> {
    this.#buckets.clear()
    this.#windows.clear()
  }

  #maybeSweep (now: number): void {
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return
    this.#lastSweep = now
    for (const [k, e] of this.#buckets) if (e.expiresAt <= now) this.#buckets.delete(k)
    for (const [k, e] of this.#windows) if (e.expiresAt <= now) this.#windows.delete(k)
  }
}
