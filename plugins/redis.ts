/**
 * The Redis connections of an instance, shared by the stores, the Socket.IO adapter and the
 * health check. In in-process mode (no REDIS_URL / REDIS_CLUSTER_NODES) `fastify.redis` is null.
 *
 * - `client`: commands on the request path. No offline queue and a command timeout, behind the
 *   gate (src/stores/redis/gate.ts): one deadline per request or socket event (src/deadline.ts,
 *   opened here for REST), and once Redis is known away every command fails at once: a request
 *   answers `unavailable` at once while Redis is known away, and within its Redis budget
 *   (REDIS_BUDGET_MS, 1.5 s, inside SPEC §8's 2 s) while Redis is frozen.
 * - `subscriber`: the relay's subscription (messages published by the append script).
 * - `adapterPub` / `adapterSub`: the Socket.IO adapter's. The adapter does not handle rejected
 *   publishes, so its publisher is the command connection behind a guard that swallows them;
 *   its subscriber is guarded the same way for (un)subscribe.
 * Every connection reconnects by itself and logs its errors through pino; all are closed in
 * `onClose`, after Socket.IO (registered later) has closed.
 */
import fp from 'fastify-plugin'
import { Redis, Cluster, type RedisOptions } from 'ioredis'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../src/config.js'
import { RedisGate } from '../src/stores/redis/gate.js'
import { REDIS_BUDGET_MS, currentContext, runInContext, runWithDeadline, type DeadlineContext } from '../src/deadline.js'

export type RedisClient = Redis | Cluster

export interface RedisConnections {
  client: RedisClient
  subscriber: RedisClient
  adapterPub: RedisClient
  adapterSub: RedisClient
  /** a plain connection for adapters that need one of their own (redis-streams) */
  createClient: () => RedisClient
  /** false while the command connection is down or Redis is known not to answer */
  isReady: () => boolean
  /** readiness: a PING answered within 1 s, cached for 250 ms (SPEC §6) */
  probe: () => Promise<boolean>
  /** the deadline of a write issued now on Redis' clock (epoch ms; 0 when unknown), see gate.ts */
  redisDeadline: () => number
  /**
   * Redis' clock (epoch ms; the local clock plus the offset measured every 10 s, no Redis call):
   * the one clock of every instance, for token times (SPEC §8)
   */
  now: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisConnections | null
  }
}

const COMMAND_TIMEOUT_MS = 1500

function baseOptions (name: string): RedisOptions {
  return {
    connectionName: name,
    connectTimeout: 2000,
    // reconnect quickly and forever: the instance recovers by itself when Redis returns
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
    maxRetriesPerRequest: 1,
    lazyConnect: false
  }
}

function create (config: Config, options: RedisOptions): RedisClient {
  if (config.redisClusterNodes.length > 0) {
    return new Cluster(config.redisClusterNodes, {
      redisOptions: options,
      enableOfflineQueue: options.enableOfflineQueue,
      enableAutoPipelining: options.enableAutoPipelining,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000)
    })
  }
  return new Redis(config.REDIS_URL as string, options)
}

const PUBLISH = new Set(['publish', 'spublish'])
const SUBSCRIBE = new Set(['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe', 'ssubscribe', 'sunsubscribe'])

/**
 * Wraps a client so that the named commands never reject unhandled: the Socket.IO adapters call
 * publish and (un)subscribe without handling the promise, and a connection that closes while
 * Redis is away rejects everything queued on it ("Connection is closed").
 */
function guarded (client: RedisClient, methods: Set<string>, onError: (err: unknown) => void): RedisClient {
  return new Proxy(client, {
    get (target, prop) {
      const value = Reflect.get(target, prop, target) as unknown
      if (typeof prop === 'string' && methods.has(prop) && typeof value === 'function') {
        return (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: unknown) => { onError(err); return 0 })
      }
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

export default fp(async (fastify) => {
  const config = fastify.config
  if (config.ADAPTER === 'memory') {
    fastify.decorate('redis', null)
    return
  }
  const log = fastify.log.child({ component: 'redis' })
  const all: RedisClient[] = []
  const watch = (c: RedisClient, name: string): RedisClient => {
    all.push(c)
    let down = false
    c.on('error', (err: Error) => {
      // one line per outage, not one per reconnect attempt
      if (!down) log.error({ conn: name, err: { message: err.message, code: (err as { code?: string }).code } }, 'redis connection error')
      down = true
    })
    c.on('ready', () => {
      if (down) log.info({ conn: name }, 'redis connection restored')
      down = false
    })
    return c
  }

  const raw = watch(create(config, {
    ...baseOptions('sb-cmd'),
    enableOfflineQueue: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
    enableAutoPipelining: true
  }), 'cmd')
  const gate = new RedisGate(raw, {
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    onChange: (up) => {
      if (up) log.info('redis answers again')
      else log.error('redis does not answer (PING within 1 s failed); requests answer unavailable at once until it does')
    }
  })
  const client = gate.client
  const subscriber = watch(create(config, { ...baseOptions('sb-sub'), enableOfflineQueue: true, maxRetriesPerRequest: null }), 'sub')
  const adapterSubConn = watch(create(config, { ...baseOptions('sb-adapter-sub'), enableOfflineQueue: true, maxRetriesPerRequest: null }), 'adapter-sub')
  const adapterSub = guarded(adapterSubConn, SUBSCRIBE, (err) => log.debug({ err }, 'adapter (un)subscribe failed'))
  const adapterPub = guarded(client, PUBLISH, (err) => log.debug({ err }, 'adapter publish failed'))

  fastify.decorate('redis', {
    client,
    subscriber,
    adapterPub,
    adapterSub,
    createClient: () => {
      // the redis-streams adapter duplicates this client for its stream reader and subscriber;
      // the duplicates are closed with the rest, or a reader blocked on a gone Redis would
      // reconnect forever after Fastify closed (it only checks its abort signal between reads)
      const c = watch(create(config, { ...baseOptions('sb-adapter'), enableOfflineQueue: true, maxRetriesPerRequest: null }), 'adapter')
      const duplicate = c.duplicate.bind(c) as (o?: object) => RedisClient
      ;(c as { duplicate: (o?: object) => RedisClient }).duplicate = (o) => watch(duplicate(o), 'adapter-duplicate')
      return c
    },
    isReady: () => !gate.down,
    probe: async () => await gate.probe(),
    redisDeadline: () => gate.redisDeadline(),
    now: () => gate.now()
  })

  // one deadline per REST request, opened before any other hook (the REST limiter's included);
  // entered again after the body is parsed, where the async context of the request is lost
  const contexts = new WeakMap<FastifyRequest, DeadlineContext | undefined>()
  fastify.addHook('onRequest', (request, _reply, done) => {
    runWithDeadline(REDIS_BUDGET_MS, () => {
      contexts.set(request, currentContext())
      done()
    })
  })
  fastify.addHook('preValidation', (request, _reply, done) => {
    runInContext(contexts.get(request), done)
  })

  // Wait for the first connection (bounded): a Redis that is down at start-up leaves the
  // instance running but not ready, and it becomes ready when Redis comes up.
  await new Promise<void>((resolve) => {
    if (raw.status === 'ready') return resolve()
    const t = setTimeout(() => { log.warn('redis is not reachable yet; starting unready'); resolve() }, 5000)
    raw.once('ready', () => { clearTimeout(t); resolve() })
  })
  await gate.syncClock()

  fastify.addHook('onClose', async () => {
    gate.close()
    await Promise.all(all.map(async (c) => {
      // QUIT lets queued replies arrive first; a connection that is down is just dropped
      if (c.status === 'ready') {
        await Promise.race([c.quit().catch(() => {}), new Promise(resolve => setTimeout(resolve, 1000).unref())])
      }
      c.disconnect()
    }))
  })
}, { name: 'redis', dependencies: ['config'], fastify: '5.x' })
