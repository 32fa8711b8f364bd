/**
 * The stores behind the domain services, Redis-backed when Redis is configured and in-process
 * otherwise. Both implementations pass the same contract suites (test/stores/).
 */
import fp from 'fastify-plugin'
import { createKeys, type Keys } from '../src/stores/keys.js'
import type { HistoryStore } from '../src/stores/history.js'
import { MemoryHistoryStore } from '../src/stores/memory/history.js'
import { ADAPTER_STREAM_MAX_LEN, RedisHistoryStore, type ArchiveHook } from '../src/stores/redis/history.js'
import type { PgArchive } from '../src/stores/postgres/archive.js'
import type { Archiver } from '../src/stores/redis/archiver.js'

/** a room stream's hard cap while PostgreSQL is down, in multiples of HISTORY_MAX_MESSAGES (issue 16) */
export const ARCHIVE_BACKLOG_FACTOR = 10

export interface Stores {
  history: HistoryStore
  keys: Keys
}

declare module 'fastify' {
  interface FastifyInstance {
    stores: Stores
    /** the PostgreSQL archiver, with DATABASE_URL (issue 16) */
    archiver?: Archiver
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  const keys = createKeys(c.REDIS_KEY_PREFIX)
  const redis = fastify.redis
  // the PostgreSQL archive (issue 16, SPEC §8): with Redis only, not on a cluster (the dirty-room
  // set sits outside the rooms' hash slots)
  let archive: PgArchive | undefined
  let archiveHook: ArchiveHook | undefined
  if (c.DATABASE_URL !== undefined) {
    if (redis === null || c.redisClusterNodes.length > 0) {
      fastify.log.warn('DATABASE_URL is ignored: the archive needs a single Redis (REDIS_URL), not in-process mode nor a cluster')
    } else {
      // loaded only with an archive: pg and node-pg-migrate cost nothing otherwise
      const { PgArchive } = await import('../src/stores/postgres/archive.js')
      const { archiveDirtyKey } = await import('../src/stores/redis/archiver.js')
      const log = fastify.log.child({ component: 'archive' })
      archive = new PgArchive(c.DATABASE_URL, log)
      await archive.start()
      const a = archive
      archiveHook = {
        dirtyKey: archiveDirtyKey(keys),
        backlogMaxLen: c.HISTORY_MAX_MESSAGES * ARCHIVE_BACKLOG_FACTOR,
        // '0-1' = unknown (archive down): the epoch then starts from Redis' clock alone
        newest: async (roomId) => {
          if (!a.up) return '0-1'
          let timer: NodeJS.Timeout | undefined
          try {
            const late = new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error('timeout')), 250) })
            return (await Promise.race([a.newest(roomId), late])) ?? '0-0'
          } catch (err) {
            log.warn({ roomId, err: { message: (err as Error).message } }, 'archive: newest id unknown; a new epoch starts from the clock')
            return '0-1'
          } finally {
            clearTimeout(timer)
          }
        }
      }
    }
  }
  const base: HistoryStore = redis === null
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
      ...(c.ADAPTER === 'redis-streams' && { adapter: { key: keys.adapterStream, maxLen: ADAPTER_STREAM_MAX_LEN } }),
      ...(archiveHook !== undefined && { archive: archiveHook })
    })
  let history: HistoryStore = base
  if (archive !== undefined && redis !== null && base instanceof RedisHistoryStore) {
    const { ArchivedHistoryStore } = await import('../src/stores/redis/archived-history.js')
    const { Archiver } = await import('../src/stores/redis/archiver.js')
    history = new ArchivedHistoryStore({ inner: base, client: redis.client, keys, archive })
    const archiver = new Archiver({ client: redis.client, keys, archive, maxLen: c.HISTORY_MAX_MESSAGES, log: fastify.log.child({ component: 'archive' }) })
    fastify.decorate('archiver', archiver)
    fastify.addHook('onReady', async () => { archiver.start() })
    fastify.addHook('preClose', async () => { await archiver.stop() })
    const pgArchive = archive
    fastify.addHook('onClose', async () => { await pgArchive.close() })
  }

  fastify.decorate('stores', { history, keys })
  fastify.addHook('onClose', async () => {
    await history.close()
  })
}, { name: 'stores', dependencies: ['config', 'redis'], fastify: '5.x' })
