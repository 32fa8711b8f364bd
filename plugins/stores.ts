/**
 * The stores behind the domain services, Redis-backed when Redis is configured and in-process
 * otherwise. Both implementations pass the same contract suites (test/stores/).
 */
import fp from 'fastify-plugin'
import { createKeys, type Keys } from '../src/stores/keys.js'
import type { HistoryStore } from '../src/stores/history.js'
import { MemoryHistoryStore } from '../src/stores/memory/history.js'
import { ADAPTER_STREAM_MAX_LEN, RedisHistoryStore } from '../src/stores/redis/history.js'

export interface Stores {
  history: HistoryStore
  keys: Keys
}

declare module 'fastify' {
  interface FastifyInstance {
    stores: Stores
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  const keys = createKeys(c.REDIS_KEY_PREFIX)
  const redis = fastify.redis
  const history: HistoryStore = redis === null
    ? new MemoryHistoryStore({ maxLen: c.HISTORY_MAX_MESSAGES })
    : new RedisHistoryStore({
      client: redis.client,
      subscriber: redis.subscriber,
      keys,
      maxLen: c.HISTORY_MAX_MESSAGES,
      // on a cluster the sender's bucket and the room's keys sit on different slots
      foldSendLimit: c.redisClusterNodes.length === 0,
      // an append that Redis only runs after the request gave up writes nothing (SPEC §4)
      writeDeadline: redis.redisDeadline,
      // with redis-streams, messages reach sockets through the adapter's stream (recoverable)
      ...(c.ADAPTER === 'redis-streams' && { adapter: { key: keys.adapterStream, maxLen: ADAPTER_STREAM_MAX_LEN } })
    })

  fastify.decorate('stores', { history, keys })
  fastify.addHook('onClose', async () => {
    await history.close()
  })
}, { name: 'stores', dependencies: ['config', 'redis'], fastify: '5.x' })
