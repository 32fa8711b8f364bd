/** The ReceiptStore contract against the memory and the Redis store. */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { MemoryHistoryStore } from '../../src/stores/memory/history.js'
import { MemoryReceiptStore } from '../../src/stores/memory/receipts.js'
import { RedisHistoryStore } from '../../src/stores/redis/history.js'
import { RedisReceiptStore } from '../../src/stores/redis/receipts.js'
import { createKeys } from '../../src/stores/keys.js'
import { redisClient, startRedis, uniquePrefix } from '../helpers/redis.js'
import { receiptContract } from './receipts.contract.js'

const redis = await startRedis()
t.teardown(redis.close)

const client = (t: Test): Redis => redisClient(t, redis.url)

receiptContract(t, {
  name: 'memory',
  create: async (_t, { maxLen }) => {
    const history = new MemoryHistoryStore({ maxLen })
    return { history, receipts: new MemoryReceiptStore({ history }) }
  }
})

receiptContract(t, {
  name: 'redis',
  create: async (t, { maxLen }) => {
    const keys = createKeys(uniquePrefix('receipts'))
    const c = client(t)
    return {
      history: new RedisHistoryStore({ client: c, subscriber: client(t), keys, maxLen }),
      receipts: new RedisReceiptStore({ client: c, keys })
    }
  }
})

t.test('redis: a store whose Redis is gone answers unavailable', async (t) => {
  const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  dead.on('error', () => {})
  const store = new RedisReceiptStore({ client: dead, keys: createKeys('t:dead:') })
  await t.rejects(store.mark('r', 'u', '1-0'), { code: 'unavailable' })
  await t.rejects(store.list('r'), { code: 'unavailable' })
  dead.disconnect()
})

t.test('redis: a mark that Redis runs after its write deadline writes nothing (SPEC §4 unavailable)', async (t) => {
  const keys = createKeys(uniquePrefix('receipts-deadline'))
  const c = client(t)
  const history = new RedisHistoryStore({ client: c, subscriber: client(t), keys, maxLen: 10 })
  t.teardown(() => history.close())
  const { message } = await history.append({ roomId: 'lobby', userId: 'alice', text: 'hi' })
  const [s] = await c.time()
  let deadline = Number(s) * 1000 - 1000
  const store = new RedisReceiptStore({ client: c, keys, writeDeadline: () => deadline })
  await t.rejects(store.mark('lobby', 'bob', message.id), { code: 'unavailable' }, 'past its deadline: unavailable')
  t.same(await store.list('lobby'), {}, 'nothing written')
  deadline = Number(s) * 1000 + 60_000
  t.equal(await store.mark('lobby', 'bob', message.id), 'advanced', 'before its deadline: written')
  t.same(await store.list('lobby'), { bob: message.id })
})
