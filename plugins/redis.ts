/**
 * The Redis connections of an instance, shared by the stores, the Socket.IO adapter and the
 * health check. In in-process mode (no REDIS_URL / REDIS_CLUSTER_NODES / REDIS_SENTINELS)
 * `fastify.redis` is null. Three topologies (SPEC §2, docs/scaling.md):
 *
 * - `REDIS_URL`: one Redis.
 * - `REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`: ioredis asks the sentinels for the master, and
 *   asks again on every reconnect and when a sentinel announces `+switch-master`
 *   (`failoverDetector`), so a promoted replica is found without a restart; a READONLY reply
 *   (connected to a demoted master) drops the connection so that the next one goes to the new master.
 * - `REDIS_CLUSTER_NODES`: ioredis Cluster, whose slot map is refreshed every few seconds and on
 *   every MOVED / failed node, so promoted replicas and nodes on new addresses are found again.
 *   The `subscriber` (presence edges) is a plain connection to any one node (classic PUBLISH
 *   reaches every node), rotating to another node when its node goes away: a plain connection
 *   reports the drop ('close'), which the relay needs to replay the gap. Messages go by sharded
 *   pub/sub instead (`shards`: per room, on the room's primary).
 *
 * - `client`: commands on the request path. No offline queue and a command timeout, behind the
 *   gate (src/stores/redis/gate.ts): one deadline per request or socket event (src/deadline.ts;
 *   `request.deadline`, set here for REST, in both modes), and once Redis is known away every command fails at once: a request
 *   answers `unavailable` at once while Redis is known away, and within its Redis budget
 *   (REDIS_BUDGET_MS, 1.5 s, inside SPEC §8's 2 s) while Redis is frozen.
 * - `subscriber`: the relays' subscription (messages published by the append script, except on
 *   a Cluster; presence edges).
 * - `adapterPub` / `adapterSub`: the Socket.IO adapter's. The adapter does not handle rejected
 *   publishes, so its publisher is the command connection behind a guard that swallows them;
 *   its subscriber is guarded the same way for (un)subscribe.
 * Every connection reconnects by itself and logs its errors through pino; all are closed in
 * `onClose`, after Socket.IO (registered later) has closed.
 */
import fp from 'fastify-plugin'
import { Redis, Cluster, type RedisOptions } from 'ioredis'
import type { Config } from '../src/config.js'
import { RedisGate } from '../src/stores/redis/gate.js'
import { REDIS_BUDGET_MS } from '../src/deadline.js'
import { setWaitReplicas } from '../src/stores/redis/replicas.js'
import { keepConnected } from '../src/stores/redis/keep-connected.js'

export type RedisClient = Redis | Cluster

export interface RedisConnections {
  client: RedisClient
  subscriber: RedisClient
  adapterPub: RedisClient
  adapterSub: RedisClient
  /** `client` with each command bounded to `ms` from when it is issued (the REST limiter's store) */
  within: (ms: number) => RedisClient
  /**
   * Redis Cluster: what the sharded message relay needs (src/stores/redis/shard-subscriptions.ts):
   * the command client's slot map and the options of its per-primary subscriber connections;
   * null on one Redis and with Sentinel (one channel for every message there)
   */
  shards: { cluster: Cluster, options: RedisOptions } | null
  /** a plain connection for adapters that need one of their own (redis-streams) */
  createClient: () => RedisClient
  /** false while the command connection is down or Redis is known not to answer */
  isReady: () => boolean
  /** readiness: a PING answered within 1 s, cached for 250 ms (SPEC §6) */
  probe: () => Promise<boolean>
  /** the deadline of a write issued now for a request due at `deadline` (src/deadline.ts), on Redis' clock (epoch ms; 0 when unknown), see gate.ts */
  redisDeadline: (deadline: number | undefined) => number
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
  interface FastifyRequest {
    /**
     * The request's deadline (epoch ms, local clock): REDIS_BUDGET_MS after it arrived (SPEC §8,
     * src/deadline.ts). Routes pass it to every service call; its Redis calls share it.
     */
    deadline: number
  }
}

const COMMAND_TIMEOUT_MS = 1500
/**
 * The most request commands waiting for Redis at once on one instance; one more is answered
 * `unavailable` at once (see gate.ts, docs/operations.md "Overload fails fast"). At the p99 of a
 * healthy instance (a few ms) this is thousands of requests per second of headroom; it is only
 * reached when the instance (or Redis) cannot keep up and the rest would time out anyway.
 */
export const REDIS_MAX_IN_FLIGHT = 1000

/** reconnect quickly and forever: the instance recovers by itself when Redis returns */
const retry = (times: number): number => Math.min(100 * times, 1000)

function baseOptions (name: string): RedisOptions {
  return {
    connectionName: name,
    connectTimeout: 2000,
    retryStrategy: retry,
    maxRetriesPerRequest: 1,
    lazyConnect: false
  }
}

/** A reply saying this connection's node is no longer the master: reconnect (to the new one). */
const reconnectOnError = (err: Error): boolean => /^READONLY/.test(err.message)

function create (config: Config, options: RedisOptions, cluster: { shardedSubscribers?: boolean } = {}): RedisClient {
  if (config.redisClusterNodes.length > 0) {
    return new Cluster(config.redisClusterNodes, {
      redisOptions: options,
      enableOfflineQueue: options.enableOfflineQueue,
      enableAutoPipelining: options.enableAutoPipelining,
      clusterRetryStrategy: retry,
      // a failed-over slot answers MOVED / CLUSTERDOWN / a closed connection: retry soon after a
      // topology refresh (the request's deadline in the gate bounds the whole wait, SPEC §8)
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 1000,
      // the periodic refresh finds promoted replicas and nodes that changed address
      slotsRefreshInterval: 2000,
      // the sharded adapter SSUBSCRIBEs on the node of each channel's slot
      shardedSubscribers: cluster.shardedSubscribers === true
    })
  }
  if (config.redisSentinels.length > 0) {
    return new Redis({
      ...options,
      sentinels: config.redisSentinels,
      name: config.REDIS_SENTINEL_NAME,
      role: 'master',
      retryStrategy: retry,
      sentinelRetryStrategy: retry,
      sentinelCommandTimeout: 1000,
      // subscribe to the sentinels' +switch-master: move at once, also when the old master is alive
      failoverDetector: true,
      reconnectOnError
    })
  }
  return new Redis(config.REDIS_URL as string, { ...options, reconnectOnError })
}

/**
 * The relay's subscriber on a cluster: a plain connection to one node, moving to another known
 * node each time it has to reconnect (the cluster's current node list, else the seeds).
 */
function clusterSubscriber (config: Config, options: RedisOptions, cluster: () => Cluster | undefined): Redis {
  let next = 0
  const seeds = config.redisClusterNodes
  const conn: Redis = new Redis({
    ...options,
    host: seeds[0].host,
    port: seeds[0].port,
    retryStrategy: (times: number) => {
      const known = cluster()?.nodes('all').map(n => ({ host: n.options.host ?? '', port: n.options.port ?? 0 })) ?? []
      const candidates = known.length > 0 ? known : seeds
      const target = candidates[++next % candidates.length]
      // ioredis reads host and port from its options on every connect
      conn.options.host = target.host
      conn.options.port = target.port
      return Math.min(100 * times, 1000)
    }
  })
  return conn
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
  // one deadline per REST request, set before any other hook (the REST limiter's included)
  fastify.decorateRequest('deadline', 0)
  fastify.addHook('onRequest', (request, _reply, done) => {
    request.deadline = Date.now() + REDIS_BUDGET_MS
    done()
  })
  if (config.ADAPTER === 'memory') {
    fastify.decorate('redis', null)
    return
  }
  const log = fastify.log.child({ component: 'redis' })
  const all: RedisClient[] = []
  let closing = false
  const watch = (c: RedisClient, name: string): RedisClient => {
    all.push(c)
    if (c instanceof Redis) keepConnected(c, () => closing)
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
    // a backstop only: the gate decides first (it lets a reply already in the socket win, which
    // ioredis' own timer would not)
    commandTimeout: COMMAND_TIMEOUT_MS + 500,
    enableAutoPipelining: true
  }), 'cmd')
  const gate = new RedisGate(raw, {
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    maxInFlight: REDIS_MAX_IN_FLIGHT,
    onChange: (up) => {
      if (up) log.info('redis answers again')
      else log.error('redis does not answer (PING within 1 s failed); requests answer unavailable at once until it does')
    }
  })
  const client = gate.client
  // REDIS_WAIT_REPLICAS (SPEC §2): the history append asks for WAIT on this client
  setWaitReplicas(client, config.REDIS_WAIT_REPLICAS)
  const subOptions = { ...baseOptions('sb-sub'), enableOfflineQueue: true, maxRetriesPerRequest: null }
  const subscriber = watch(raw instanceof Cluster ? clusterSubscriber(config, subOptions, () => raw) : create(config, subOptions), 'sub')
  const adapterSubConn = watch(create(config, { ...baseOptions('sb-adapter-sub'), enableOfflineQueue: true, maxRetriesPerRequest: null }, { shardedSubscribers: true }), 'adapter-sub')
  const adapterSub = guarded(adapterSubConn, SUBSCRIBE, (err) => log.debug({ err }, 'adapter (un)subscribe failed'))
  const adapterPub = guarded(client, PUBLISH, (err) => log.debug({ err }, 'adapter publish failed'))

  fastify.decorate('redis', {
    client,
    subscriber,
    adapterPub,
    adapterSub,
    shards: raw instanceof Cluster ? { cluster: raw, options: { ...subOptions, connectionName: 'sb-relay-shard' } } : null,
    createClient: () => {
      // the redis-streams adapter duplicates this client for its stream reader and subscriber;
      // the duplicates are closed with the rest, or a reader blocked on a gone Redis would
      // reconnect forever after Fastify closed (it only checks its abort signal between reads)
      const c = watch(create(config, { ...baseOptions('sb-adapter'), enableOfflineQueue: true, maxRetriesPerRequest: null }), 'adapter')
      const duplicate = c.duplicate.bind(c) as (o?: object) => RedisClient
      ;(c as { duplicate: (o?: object) => RedisClient }).duplicate = (o) => watch(duplicate(o), 'adapter-duplicate')
      return c
    },
    within: (ms) => gate.within(ms),
    isReady: () => !gate.down,
    probe: async () => await gate.probe(),
    redisDeadline: (deadline) => gate.redisDeadline(deadline),
    now: () => gate.now()
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
    closing = true
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
