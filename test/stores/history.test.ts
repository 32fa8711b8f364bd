/**
 * The HistoryStore contract against the memory and the Redis store, plus what only Redis can
 * show: the epoch surviving a lost meta hash, the adapter-stream delivery format that Socket.IO's
 * redis-streams adapter reads, and `unavailable` when Redis is gone.
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { MemoryHistoryStore } from '../../src/stores/memory/history.js'
import { compareIds } from '../../src/model/message-id.js'
import { RedisHistoryStore } from '../../src/stores/redis/history.js'
import { createKeys, type Keys } from '../../src/stores/keys.js'
import { redisClient, startRedis, uniquePrefix } from '../helpers/redis.js'
import { historyContract } from './history.contract.js'

const redis = await startRedis()
t.teardown(redis.close)

const client = (t: Test): Redis => redisClient(t, redis.url)

function redisStore (t: Test, maxLen: number, extra: { adapter?: { key: string, maxLen: number }, foldSendLimit?: boolean } = {}): { store: RedisHistoryStore, keys: Keys, probe: Redis } {
  const keys = createKeys(uniquePrefix('history'))
  const store = new RedisHistoryStore({ client: client(t), subscriber: client(t), keys, maxLen, ...extra })
  t.teardown(() => store.close())
  return { store, keys, probe: client(t) }
}

historyContract(t, {
  name: 'memory',
  create: async (t, { maxLen }) => {
    const store = new MemoryHistoryStore({ maxLen })
    t.teardown(() => store.close())
    return { store, reset: async (roomId) => { store.reset(roomId) }, listening: async () => {} }
  }
})

historyContract(t, {
  name: 'redis',
  create: async (t, { maxLen }) => {
    const { store, keys, probe } = redisStore(t, maxLen)
    return {
      store,
      // what a flush does to one room: the stream and its meta are gone
      reset: async (roomId) => { await probe.del(keys.roomHistory(roomId), keys.roomMeta(roomId)) },
      listening: async () => { await store.ready() }
    }
  }
})

// as on Redis Cluster, where the sender's bucket sits on another slot: the store takes the limit
// with its own script just before the append
historyContract(t, {
  name: 'redis, send limit taken first',
  limitFirst: true,
  create: async (t, { maxLen }) => {
    const { store, keys, probe } = redisStore(t, maxLen, { foldSendLimit: false })
    return {
      store,
      reset: async (roomId) => { await probe.del(keys.roomHistory(roomId), keys.roomMeta(roomId)) },
      listening: async () => { await store.ready() }
    }
  }
})

t.test('redis: a stream deleted without its meta, or a meta lost on its own, never recovers old positions', async (t) => {
  const { store, keys, probe } = redisStore(t, 100)
  // back to back, mostly within a millisecond: the old epoch, its deletion, the new epoch
  await store.append({ roomId: 'r', userId: 'u', text: 'a' })
  const old = (await store.append({ roomId: 'r', userId: 'u', text: 'a2' })).message
  await probe.del(keys.roomHistory('r'))
  const fresh = (await store.append({ roomId: 'r', userId: 'u', text: 'b' })).message
  t.ok(compareIds(fresh.id, old.id) > 0, `the new epoch starts after the old one (${old.id} < ${fresh.id})`)
  t.equal((await store.since('r', old.id, 10)).recovered, false, 'stream re-created: a new epoch')
  t.equal(await probe.hget(keys.roomMeta('r'), 'start'), fresh.id)

  await probe.del(keys.roomMeta('r'))
  t.equal((await store.since('r', fresh.id, 10)).recovered, false, 'no epoch on record: cannot vouch')
  const next = (await store.append({ roomId: 'r', userId: 'u', text: 'c' })).message
  t.equal(await probe.hget(keys.roomMeta('r'), 'start'), next.id, 're-seeded by the next append')
  t.equal((await store.since('r', fresh.id, 10)).recovered, false, 'conservatively, from there on')
  t.equal((await store.since('r', next.id, 10)).recovered, true)
})

t.test('redis: with an adapter stream, each message is one BROADCAST entry Socket.IO can read', async (t) => {
  const prefix = uniquePrefix('history-adapter')
  const keys = createKeys(prefix)
  const store = new RedisHistoryStore({ client: client(t), subscriber: client(t), keys, maxLen: 100, adapter: { key: keys.adapterStream, maxLen: 50 } })
  const probe = client(t)
  t.equal(store.delivery, 'adapter')
  const a = await store.append({ roomId: 'room.1', userId: 'u', text: 'say "hi"\n', clientMsgId: 'x' })
  await store.append({ roomId: 'room.1', userId: 'u', text: 'repeat', clientMsgId: 'x' })
  const entries = await probe.xrange(keys.adapterStream, '-', '+')
  t.equal(entries.length, 1, 'a repeat adds nothing')
  const flat = entries[0][1]
  const fields: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1]
  t.same({ uid: fields.uid, nsp: fields.nsp, type: fields.type }, { uid: 'emitter', nsp: '/', type: '3' }, 'as @socket.io/redis-streams-emitter writes')
  t.same(JSON.parse(fields.data), {
    packet: { type: 2, data: ['message:new', a.message], nsp: '/' },
    opts: { rooms: ['room.1'], except: [], flags: {} }
  })
  for (let i = 0; i < 300; i++) await store.append({ roomId: 'room.2', userId: 'u', text: `${i}` })
  t.ok(await probe.xlen(keys.adapterStream) < 300, 'the adapter stream is trimmed (approximately) to its maxLen')

  const plain = redisStore(t, 100)
  t.equal(plain.store.delivery, 'relay')
  await plain.store.append({ roomId: 'r', userId: 'u', text: 'x' })
  t.equal(await plain.probe.exists(plain.keys.adapterStream), 0, 'without the option nothing is written there')
})

t.test('redis: a store whose Redis is gone answers unavailable', async (t) => {
  const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  dead.on('error', () => {})
  const store = new RedisHistoryStore({ client: dead, subscriber: dead, keys: createKeys('t:dead:'), maxLen: 10 })
  await t.rejects(store.append({ roomId: 'r', userId: 'u', text: 'x' }), { code: 'unavailable' })
  await t.rejects(store.range('r', { limit: 1 }), { code: 'unavailable' })
  await t.rejects(store.since('r', '1-0', 1), { code: 'unavailable' })
  await t.rejects(store.has('r', '1-0'), { code: 'unavailable' })
  dead.disconnect()
})

t.test('an append that Redis runs after its write deadline writes nothing (SPEC §4 unavailable)', async (t) => {
  const keys = createKeys(uniquePrefix('history-deadline'))
  const c = client(t)
  const [s] = await c.time()
  let deadline = Number(s) * 1000 - 1000
  const store = new RedisHistoryStore({ client: c, subscriber: client(t), keys, maxLen: 10, writeDeadline: () => deadline })
  t.teardown(() => store.close())
  const draft = { roomId: 'lobby', userId: 'alice', text: 'late', clientMsgId: 'late-1' }
  await t.rejects(store.append(draft), { code: 'unavailable' }, 'past its deadline: unavailable')
  t.equal(await c.exists(keys.roomHistory('lobby'), keys.idempotency('lobby', 'alice', 'late-1', undefined)), 0, 'nothing written, no idempotency key')
  deadline = Number(s) * 1000 + 60_000
  const ok = await store.append(draft)
  t.equal(ok.duplicate, false, 'before its deadline: written')
  t.equal((await store.range('lobby', { limit: 10 })).messages.length, 1)
})
