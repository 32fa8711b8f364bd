/**
 * The arithmetic of SPEC §7's limits, both O(1) per key:
 *
 * - a token bucket (`takeToken`): `burst` tokens, refilled at `perSecond`; one token per event.
 * - a sliding window counter (`hitWindow`): at most `limit` events in any `windowMs`,
 *   approximated from the current and the previous fixed window (the previous one weighted by
 *   how much of it still overlaps), without the fixed window's double burst at an edge.
 *
 * Pure functions over small state objects. The memory store, the in-process per-socket limiter
 * and the domain all use them (the Redis Lua mirrors them), so they live below every layer and
 * import nothing.
 */

/** The answer of a limiter: refused decisions say how long until the next event would pass. */
export interface RateLimitDecision {
  allowed: boolean
  /** 0 when allowed; otherwise ms until one more event would be allowed (at least 1) */
  retryAfterMs: number
}

/** `burst` events at once, then `perSecond` (both > 0; a limit of 0 is off and never reaches a store). */
export interface TokenBucketRule { burst: number, perSecond: number }

/** At most `limit` events in any `windowMs` (both > 0). */
export interface WindowRule { limit: number, windowMs: number }

/** ceil for computed waits, tolerant of float noise (0.1 + 0.2 style) just above an integer */
function ceilMs (x: number): number {
  return Math.ceil(x - 1e-6)
}

export interface BucketState {
  /** tokens left at `at` (fractional) */
  tokens: number
  /** epoch ms of the last change */
  at: number
}

export function newBucket (rule: TokenBucketRule, now: number): BucketState {
  return { tokens: rule.burst, at: now }
}

/**
 * Takes one token. Returns 0 and updates `s` when allowed; returns the wait in ms (>= 1) and
 * leaves `s` unchanged when refused (the refill is computed from `at`, so nothing is lost).
 */
export function takeToken (s: BucketState, rule: TokenBucketRule, now: number): number {
  const perMs = rule.perSecond / 1000
  const tokens = Math.min(rule.burst, s.tokens + Math.max(0, now - s.at) * perMs)
  if (tokens < 1) return Math.max(1, ceilMs((1 - tokens) / perMs))
  s.tokens = tokens - 1
  s.at = now
  return 0
}

/** ms until a bucket refills completely: after that its state equals a new bucket's. */
export function bucketIdleMs (rule: TokenBucketRule): number {
  return Math.ceil(rule.burst / rule.perSecond * 1000)
}

export interface WindowState {
  /** index of the current fixed window (floor(now / windowMs)) */
  win: number
  /** events counted in the current window */
  cur: number
  /** events counted in the previous window */
  prev: number
}

export function newWindow (): WindowState {
  return { win: -1, cur: 0, prev: 0 }
}

/**
 * Counts one event. Returns 0 and updates `s` when allowed; returns the wait in ms (>= 1) when
 * refused (a refused event is not counted). Mirrored line by line by the Redis store's Lua.
 */
export function hitWindow (s: WindowState, rule: WindowRule, now: number): number {
  const size = rule.windowMs
  const limit = rule.limit
  const win = Math.floor(now / size)
  if (s.win !== win) {
    s.prev = s.win === win - 1 ? s.cur : 0
    s.cur = 0
    s.win = win
  }
  const elapsed = now - win * size
  if (s.prev * (size - elapsed) / size + s.cur + 1 <= limit) {
    s.cur++
    return 0
  }
  let wait: number
  if (s.cur + 1 > limit) {
    // this window is full by itself: wait for the next one, then until the weight of this
    // window's count has decayed enough for one more
    wait = (size - elapsed) + ceilMs(size * (1 - (limit - 1) / s.cur))
  } else {
    // the previous window's weighted count is in the way (s.prev > 0 here)
    wait = ceilMs(size * (1 - (limit - 1 - s.cur) / s.prev) - elapsed)
  }
  return Math.max(1, wait)
}

/** The first ms at which a window's state no longer influences any decision. */
export function windowExpiresAt (s: WindowState, rule: WindowRule): number {
  return (s.win + 2) * rule.windowMs
}
