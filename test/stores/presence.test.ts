/**
 * The PresenceStore contract against the in-process store and the Redis store, plus what only
 * the Redis store can show: several instances on one registry (crash, stall, sweep) and a batch
 * query in one round trip.
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { presenceContract } from './presence.contract.js'
import { presenceInstancesSuite } from './presence.instances.js'
import type { PresenceHarness } from './presence.helpers.js'
import { MemoryPresenceStore } from '../../src/stores/memory/presence.js'
import { RedisPresenceStore } from '../../src/stores/redis/presence.js'
import { createKeys } from '../../src/stores/keys.js'
import { startRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js'

let redis: TestRedis
t.before(async () => { redis = await startRedis() })
t.teardown(async () => { await redis?.close() })

presenceContract(t, 'memory', async () => ({
  make: async (instanceId, ttlMs) => new MemoryPresenceStore({ instanceId, ttlMs })
}))

async function redisHarness (t: Test): Promise<PresenceHarness> {
  const keys = createKeys(uniquePrefix('presence-store'))
  return {
    make: async (instanceId, ttlMs) => {
      const client = new Redis(redis.url, { enableAutoPipelining: true })
      const subscriber = new Redis(redis.url)
      const store = new RedisPresenceStore({ client, subscriber, keys, instanceId, ttlMs })
      t.teardown(async () => {
        await store.close()
        client.disconnect()
        subscriber.disconnect()
      })
      store.onPresence(() => {})
      await store.ready()
      return store
    }
  }
}

presenceContract(t, 'redis', redisHarness)
presenceInstancesSuite(t, 'redis', redisHarness)

t.test('redis: a batch query is one pipeline, not one call per id', async (t) => {
  const keys = createKeys(uniquePrefix('presence-batch'))
  const raw = new Redis(redis.url)
  const subscriber = new Redis(redis.url)
  t.teardown(() => { raw.disconnect(); subscriber.disconnect() })
  const calls: string[] = []
  // counts what the store asks of the client: a pipeline, and nothing sent one by one
  const client = new Proxy(raw, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof value !== 'function' || typeof prop !== 'string') return value
      return (...args: unknown[]) => {
        calls.push(prop)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  })
  const store = new RedisPresenceStore({ client, subscriber, keys, instanceId: 'i1', ttlMs: 10_000 })
  await store.heartbeat({ stats: { id: 'i1', connections: 0, rooms: 0, uptimeS: 0, rssBytes: 0 }, users: [], rooms: [], index: { users: [], rooms: [] }, online: [] })
  await store.connect('u-7', 's1')
  const ids = Array.from({ length: 1000 }, (_, i) => `u-${i}`)
  calls.length = 0
  const states = await store.query(ids)
  t.same(calls, ['pipeline'], 'one pipeline for 1000 ids')
  t.equal(states.length, 1000)
  t.match(states[7], { userId: 'u-7', status: 'online', connections: 1 })
  t.same(states[8], { userId: 'u-8', status: 'offline', connections: 0, lastSeenAt: null })
})
