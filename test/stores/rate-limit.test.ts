/**
 * The RateLimitStore contract against the memory and the Redis store, plus what only one of them
 * can show: the memory store's pure arithmetic on a fake clock, Redis keys that expire by
 * themselves and decisions shared by two connections (two instances).
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { MemoryRateLimitStore } from '../../src/stores/memory/rate-limit.js'
import { RedisRateLimitStore } from '../../src/stores/redis/rate-limit.js'
import { hitWindow, newWindow, takeToken, newBucket } from '../../src/model/rate-window.js'
import { createKeys } from '../../src/stores/keys.js'
import { redisClient, startRedis, uniquePrefix } from '../helpers/redis.js'
import { rateLimitContract } from './rate-limit.contract.js'

const redis = await startRedis()
t.teardown(redis.close)

const client = (t: Test): Redis => redisClient(t, redis.url)

rateLimitContract(t, {
  name: 'memory',
  create: async () => {
    const prefix = uniquePrefix('rl-mem')
    return { store: new MemoryRateLimitStore(), key: (n) => `${prefix}${n}` }
  }
})

rateLimitContract(t, {
  name: 'redis',
  create: async (t) => {
    const keys = createKeys(uniquePrefix('rl-redis'))
    return { store: new RedisRateLimitStore({ client: client(t) }), key: (n) => keys.userRateLimit(n, 'test') }
  }
})

t.test('memory: arithmetic on a fake clock', async (t) => {
  let now = 1_000_000
  const store = new MemoryRateLimitStore({ now: () => now })
  const bucket = { burst: 2, perSecond: 2 }
  t.equal((await store.take('k', bucket)).allowed, true)
  t.equal((await store.take('k', bucket)).allowed, true)
  t.same(await store.take('k', bucket), { allowed: false, retryAfterMs: 500 })
  now += 499
  t.same(await store.take('k', bucket), { allowed: false, retryAfterMs: 1 })
  now += 1
  t.equal((await store.take('k', bucket)).allowed, true)

  const rule = { limit: 4, windowMs: 1000 }
  now = 5_000_000 // the start of a window
  for (let i = 0; i < 4; i++) t.equal((await store.hit('w', rule)).allowed, true)
  // full by itself: the next window, then until 4 * (1 - e) + 1 <= 4, e >= 0.25
  t.same(await store.hit('w', rule), { allowed: false, retryAfterMs: 1250 })
  now += 1250
  t.equal((await store.hit('w', rule)).allowed, true, 'allowed exactly at retryAfterMs')
  t.equal((await store.hit('w', rule)).allowed, false, 'weighted count 4 * 0.75 + 1 = 4, the next is refused')

  // idle entries are swept after a minute, without a timer
  now += 10 * 60_000
  await store.take('other', bucket)
  t.equal(store.size, 1, 'only the key used since remains')
})

t.test('pure functions agree with the documented edge cases', async (t) => {
  const s = newWindow()
  const rule = { limit: 1, windowMs: 100 }
  t.equal(hitWindow(s, rule, 1000), 0)
  t.equal(hitWindow(s, rule, 1050), 150, 'limit 1: wait for the next window and its full decay')
  const b = newBucket({ burst: 1, perSecond: 1000 }, 0)
  t.equal(takeToken(b, { burst: 1, perSecond: 1000 }, 0), 0)
  t.equal(takeToken(b, { burst: 1, perSecond: 1000 }, 0), 1, 'waits are at least 1 ms')
})

t.test('redis: keys expire when idle and two connections share one bucket', async (t) => {
  const keys = createKeys(uniquePrefix('rl-share'))
  const a = new RedisRateLimitStore({ client: client(t) })
  const b = new RedisRateLimitStore({ client: client(t) })
  const key = keys.userRateLimit('alice', 'send')
  t.match(key, /\{u:alice\}/, 'the user is the hash tag')
  const rule = { burst: 3, perSecond: 10 }
  t.equal((await a.take(key, rule)).allowed, true)
  t.equal((await b.take(key, rule)).allowed, true)
  t.equal((await a.take(key, rule)).allowed, true)
  t.equal((await b.take(key, rule)).allowed, false, 'the second connection sees the first one\'s takes')
  const probe = client(t)
  const ttl = await probe.pttl(key)
  t.ok(ttl > 0 && ttl <= 300, `bucket key expires once full again (pttl ${ttl})`)
  const wkey = keys.ipRateLimit('127.0.0.1', 'conn')
  await a.hit(wkey, { limit: 5, windowMs: 1000 })
  const wttl = await probe.pttl(wkey)
  t.ok(wttl > 0 && wttl <= 2000, `window key expires within two windows (pttl ${wttl})`)
})

t.test('redis: a store whose Redis is gone answers unavailable', async (t) => {
  const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  dead.on('error', () => {})
  const store = new RedisRateLimitStore({ client: dead })
  await t.rejects(store.take('k', { burst: 1, perSecond: 1 }), { code: 'unavailable' })
  await t.rejects(store.hit('k', { limit: 1, windowMs: 1000 }), { code: 'unavailable' })
  dead.disconnect()
})
