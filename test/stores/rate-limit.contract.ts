/**
 * The RateLimitStore contract, run against every implementation (rate-limit.test.ts). Timing is
 * only ever asserted as a bound the algorithm itself states: a refusal's retryAfterMs is when
 * the next event passes, so waiting that long (plus a little) must let one through.
 */
import type { Test } from 'tap'
import type { RateLimitStore } from '../../src/stores/rate-limit.js'
import { sleep } from '../helpers/net.js'

export interface StoreFactory {
  name: string
  /** a fresh store; `key(name)` gives keys unique to this test run */
  create: (t: Test) => Promise<{ store: RateLimitStore, key: (name: string) => string }>
}

export function rateLimitContract (t: Test, factory: StoreFactory): void {
  t.test(`${factory.name}: token bucket allows the burst, then refuses with retryAfterMs`, async (t) => {
    const { store, key } = await factory.create(t)
    const rule = { burst: 3, perSecond: 0.5 }
    for (let i = 0; i < 3; i++) t.same(await store.take(key('b'), rule), { allowed: true, retryAfterMs: 0 }, `token ${i + 1}`)
    const refused = await store.take(key('b'), rule)
    t.equal(refused.allowed, false)
    // one token every 2000 ms; a little of it may already have refilled
    t.ok(refused.retryAfterMs > 1500 && refused.retryAfterMs <= 2000, `retryAfterMs ${refused.retryAfterMs} ≈ 2000`)
    const again = await store.take(key('b'), rule)
    t.equal(again.allowed, false, 'a refusal does not refill the bucket')
    t.ok(again.retryAfterMs <= refused.retryAfterMs, 'and the wait only shrinks')
  })

  t.test(`${factory.name}: token bucket refills at perSecond`, async (t) => {
    const { store, key } = await factory.create(t)
    const rule = { burst: 2, perSecond: 20 }
    t.equal((await store.take(key('r'), rule)).allowed, true)
    t.equal((await store.take(key('r'), rule)).allowed, true)
    const refused = await store.take(key('r'), rule)
    t.equal(refused.allowed, false)
    t.ok(refused.retryAfterMs >= 1 && refused.retryAfterMs <= 50, `one token per 50 ms, got ${refused.retryAfterMs}`)
    await sleep(refused.retryAfterMs + 30)
    t.equal((await store.take(key('r'), rule)).allowed, true, 'allowed again after retryAfterMs')
  })

  t.test(`${factory.name}: buckets of different keys are independent`, async (t) => {
    const { store, key } = await factory.create(t)
    const rule = { burst: 1, perSecond: 0.1 }
    t.equal((await store.take(key('alice'), rule)).allowed, true)
    t.equal((await store.take(key('alice'), rule)).allowed, false)
    t.equal((await store.take(key('bob'), rule)).allowed, true)
  })

  t.test(`${factory.name}: concurrent takes never exceed the burst`, async (t) => {
    const { store, key } = await factory.create(t)
    const rule = { burst: 10, perSecond: 0.01 }
    const all = await Promise.all(Array.from({ length: 50 }, async () => await store.take(key('c'), rule)))
    t.equal(all.filter(d => d.allowed).length, 10)
    t.ok(all.filter(d => !d.allowed).every(d => d.retryAfterMs > 0))
  })

  t.test(`${factory.name}: window allows limit events, then refuses until the window slides`, async (t) => {
    const { store, key } = await factory.create(t)
    const rule = { limit: 3, windowMs: 400 }
    for (let i = 0; i < 3; i++) t.same(await store.hit(key('w'), rule), { allowed: true, retryAfterMs: 0 }, `hit ${i + 1}`)
    const refused = await store.hit(key('w'), rule)
    t.equal(refused.allowed, false)
    // never longer than two windows (the next one, and the decay of this one's count)
    t.ok(refused.retryAfterMs >= 1 && refused.retryAfterMs <= 800, `retryAfterMs ${refused.retryAfterMs}`)
    t.equal((await store.hit(key('w'), rule)).allowed, false, 'a refused event is not counted but still refused')
    await sleep(refused.retryAfterMs + 30)
    t.equal((await store.hit(key('w'), rule)).allowed, true, 'allowed again after retryAfterMs')
  })

  t.test(`${factory.name}: window never allows more than limit within one window`, async (t) => {
    const { store, key } = await factory.create(t)
    const rule = { limit: 5, windowMs: 10_000 }
    const all = await Promise.all(Array.from({ length: 30 }, async () => await store.hit(key('n'), rule)))
    t.equal(all.filter(d => d.allowed).length, 5)
    t.equal((await store.hit(key('other'), rule)).allowed, true, 'another key has its own window')
  })
}
