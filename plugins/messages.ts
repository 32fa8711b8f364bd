/**
 * Messages (SPEC §5, §6, §8): `fastify.messages = { store, service }`. The HistoryStore
 * (Redis when configured, in-process otherwise; both pass test/stores/), optionally backed by the
 * PostgreSQL archive (DATABASE_URL, SPEC §8); the message service both transports call; and the
 * relay that turns the store's publication into `message:new` for this instance's sockets.
 */
import fp from 'fastify-plugin'
import type { Logger } from '../src/log.js'
import { createMessageService, type MessageService } from '../src/domain/messages.js'
import { startRelay, type Relay } from '../src/realtime/relay.js'
import type { AppNamespace } from '../src/realtime/types.js'
import type { HistoryStore } from '../src/stores/history.js'
import { MemoryHistoryStore } from '../src/stores/memory/history.js'
import { ADAPTER_STREAM_MAX_LEN, RedisHistoryStore, type ArchiveHook } from '../src/stores/redis/history.js'
import type { PgArchive } from '../src/stores/postgres/archive.js'
import type { ArchiverProcess } from '../src/stores/redis/archiver-process.js'

/** a room stream's hard cap while PostgreSQL is down, in multiples of HISTORY_MAX_MESSAGES (issue 16) */
export const ARCHIVE_BACKLOG_FACTOR = 10
/** how long an append waits for the archive's newest id of a room before starting a new epoch */
const NEWEST_WAIT_MS = 250

export interface Messages {
  store: HistoryStore
  service: MessageService
}

declare module 'fastify' {
  interface FastifyInstance {
    messages: Messages
    /** the message relay: `roomLive` for room:join (per-room feeds on a Cluster) */
    relay: Relay
    /** the PostgreSQL archiver's process, with DATABASE_URL (issue 16): its lag and errors for /metrics */
    archiver?: ArchiverProcess
  }
}

/** The archive's newest id of a room for a new epoch: '0-1' = unknown (archive down or slow), '0-0' = none. */
export function newestOf (archive: Pick<PgArchive, 'up' | 'newest'>, log: Logger): ArchiveHook['newest'] {
  // one lookup per room at a time, shared by every send that needs it meanwhile: a burst of
  // first sends into a new room would otherwise queue one query each on the pool (and each
  // past NEWEST_WAIT_MS logs a warning)
  const inflight = new Map<string, Promise<string>>()
  return async (roomId) => {
    if (!archive.up) return '0-1'
    let p = inflight.get(roomId)
    if (p === undefined) {
      p = lookup(roomId).finally(() => { inflight.delete(roomId) })
      inflight.set(roomId, p)
    }
    return await p
  }

  async function lookup (roomId: string): Promise<string> {
    let timer: NodeJS.Timeout | undefined
    try {
      const late = new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error('timeout')), NEWEST_WAIT_MS) })
      return (await Promise.race([archive.newest(roomId), late])) ?? '0-0'
    } catch (err) {
      log.warn({ roomId, err: { message: (err as Error).message } }, 'archive: newest id unknown; a new epoch starts from the clock')
      return '0-1'
    } finally {
      clearTimeout(timer)
    }
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  const keys = fastify.keys
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
      archiveHook = { dirtyKey: archiveDirtyKey(keys), backlogMaxLen: c.HISTORY_MAX_MESSAGES * ARCHIVE_BACKLOG_FACTOR, newest: newestOf(archive, log) }
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
      ...(archiveHook !== undefined && { archive: archiveHook }),
      // on a cluster, messages go by sharded pub/sub, per room (docs/scaling.md)
      ...(redis.shards !== null && { shards: redis.shards })
    })
  let store: HistoryStore = base
  if (archive !== undefined && redis !== null && base instanceof RedisHistoryStore) {
    const { ArchivedHistoryStore } = await import('../src/stores/redis/archived-history.js')
    const { ArchiverProcess } = await import('../src/stores/redis/archiver-process.js')
    store = new ArchivedHistoryStore({ inner: base, client: redis.client, keys, archive })
    // batch work in a process of its own with its own connections, off the sockets' process
    const archiver = new ArchiverProcess({
      redis: c.redisSentinels.length > 0 ? { sentinels: c.redisSentinels, name: c.REDIS_SENTINEL_NAME } : { url: c.REDIS_URL },
      prefix: c.REDIS_KEY_PREFIX,
      databaseUrl: c.DATABASE_URL as string,
      maxLen: c.HISTORY_MAX_MESSAGES,
      log: fastify.log.child({ component: 'archive' })
    })
    fastify.decorate('archiver', archiver)
    fastify.addHook('onReady', async () => { archiver.start() })
    fastify.addHook('preClose', async () => { await archiver.stop() })
    const pgArchive = archive
    fastify.addHook('onClose', async () => { await pgArchive.close() })
  }
  fastify.addHook('onClose', async () => { await store.close() })

  const service = createMessageService({
    history: store,
    roomAccess: c.ROOM_ACCESS,
    maxLength: c.MESSAGE_MAX_LENGTH,
    sendLimit: fastify.limits.send
  })
  fastify.decorate('messages', { store, service })

  // every message the store publishes (from any instance) reaches this instance's sockets
  const relay = startRelay(store, fastify.io.of('/') as AppNamespace, fastify.log.child({ component: 'realtime' }))
  fastify.decorate('relay', relay)
}, { name: 'messages', dependencies: ['config', 'redis', 'limits', 'socket-io'], fastify: '5.x' })
