/**
 * Prometheus metrics at `GET /metrics` (SPEC §6) through fastify-metrics (prom-client): Node's
 * default metrics, request durations per route, and Switchboard's own instruments, which the
 * other plugins increment (`fastify.appMetrics`). Every app has its own registry, so several
 * apps in one process (the tests) never collide on metric names.
 *
 * With METRICS_TOKEN set the endpoint requires `Authorization: Bearer <METRICS_TOKEN>`; the
 * comparison is of SHA-256 digests with timingSafeEqual, so neither the token's content nor its
 * length leaks through timing. A refusal is the contract's 401 `unauthorized`.
 */
import fp from 'fastify-plugin'
import fastifyMetricsModule, { type IMetricsPluginOptions } from 'fastify-metrics'
import promClient, { Counter, Gauge, Registry } from 'prom-client'
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest, RouteOptions } from 'fastify'
import { appError } from '../src/errors.js'
import { bearerToken } from '../src/domain/principal.js'
import { createSocketFamilies, type SocketFamilies } from '../src/metrics/families.js'

// fastify-metrics is CommonJS with an esModule default: under Node's ESM loader the default
// import is the whole exports object
const fastifyMetrics = ((fastifyMetricsModule as unknown as { default?: unknown }).default ?? fastifyMetricsModule) as FastifyPluginAsync<Partial<IMetricsPluginOptions>>

export type RateLimitKind = 'http' | 'send' | 'event' | 'connection'

/** Switchboard's own instruments; the plugins that see the events increment them. */
export interface AppMetrics {
  registry: Registry
  /** the contract's socket-side families (src/metrics/families.ts); `messagesSent` is among them */
  socket: SocketFamilies
  /** messages accepted on this instance (a repeated clientMsgId is not counted): slots by transport */
  messagesSent: { socket: () => void, rest: () => void }
  /** read at scrape time; set by the plugins that own them (presence, redis) */
  sources: MetricSources
  /** refusals for rate, by limit */
  rateLimited: Counter<'kind'>
  /** connections disconnected for being far over a limit (SPEC §7: 10× for 10 s) */
  rateLimitDisconnects: Counter
  /** connections closed for a frame over MAX_FRAME_BYTES */
  oversizedFrames: Counter
  /** connections closed because their outgoing buffer passed MAX_SOCKET_BUFFER_BYTES */
  slowConsumerDisconnects: Counter
}

/** Values the gauges read at scrape time, each bounded by the plugin that provides it. */
export interface MetricSources {
  /** users online across all instances (SPEC §6 switchboard_presence_online_users) */
  onlineUsers?: () => Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    appMetrics: AppMetrics
  }
}

/** the `route` label of every request that matches no route (never its raw URL) */
export const UNMATCHED_ROUTE = '__unmatched__'

const RATE_LIMIT_KINDS: RateLimitKind[] = ['http', 'send', 'event', 'connection']

export default fp(async (fastify) => {
  const c = fastify.config
  const registry = new Registry()

  const socket = createSocketFamilies(registry)
  const sent = { socket: socket.messagesSent.slot({ transport: 'socket' }), rest: socket.messagesSent.slot({ transport: 'rest' }) }
  const appMetrics: AppMetrics = {
    registry,
    socket,
    messagesSent: { socket: () => socket.messagesSent.inc(sent.socket), rest: () => socket.messagesSent.inc(sent.rest) },
    sources: {},
    rateLimited: new Counter({ name: 'switchboard_rate_limited_total', help: 'Requests, events and connections refused for rate, by limit', labelNames: ['kind'], registers: [registry] }),
    rateLimitDisconnects: new Counter({ name: 'switchboard_rate_limit_disconnects_total', help: 'Connections disconnected for being far over a rate limit (10x for 10 s)', registers: [registry] }),
    oversizedFrames: new Counter({ name: 'switchboard_oversized_frames_total', help: 'Connections closed for a frame over MAX_FRAME_BYTES', registers: [registry] }),
    slowConsumerDisconnects: new Counter({ name: 'switchboard_slow_consumer_disconnects_total', help: 'Connections closed because their outgoing buffer passed MAX_SOCKET_BUFFER_BYTES', registers: [registry] })
  }
  // every kind is exported from the start, at 0, so rate() works from the first scrape
  for (const kind of RATE_LIMIT_KINDS) appMetrics.rateLimited.inc({ kind }, 0)

  // read at scrape time: the Socket.IO server is registered after this plugin
  const io = () => fastify.hasDecorator('io') ? fastify.io : undefined
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'switchboard_socket_connections',
    help: 'Client connections open on this instance, by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect () {
      let websocket = 0
      let polling = 0
      const clients = (io()?.engine as unknown as { clients?: Record<string, { transport: { name: string } }> } | undefined)?.clients ?? {}
      for (const id in clients) {
        if (clients[id].transport.name === 'polling') polling++
        else websocket++
      }
      this.set({ transport: 'websocket' }, websocket)
      this.set({ transport: 'polling' }, polling)
    }
  })
  let lastOnline = 0
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'switchboard_presence_online_users',
    help: 'Users online across all instances',
    registers: [registry],
    async collect () {
      // the last value stays when the store cannot answer (Redis away): redis_up tells that
      const read = appMetrics.sources.onlineUsers
      if (read !== undefined) this.set(lastOnline = await read().catch(() => lastOnline))
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'switchboard_redis_up',
    help: '1 while this instance\'s Redis answers the readiness PING (within 1 s), else 0; 1 without Redis',
    registers: [registry],
    async collect () {
      const redis = fastify.hasDecorator('redis') ? fastify.redis : null
      this.set(redis === null || await redis.probe() ? 1 : 0)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'switchboard_draining',
    help: '1 while this instance drains (SIGTERM received), else 0',
    registers: [registry],
    collect () { this.set(fastify.lifecycle.draining ? 1 : 0) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'switchboard_namespace_sockets',
    help: 'Sockets connected on this instance, by namespace',
    labelNames: ['namespace'],
    registers: [registry],
    collect () {
      const server = io()
      if (server === undefined) return
      for (const name of ['/', '/admin']) this.set({ namespace: name }, server.of(name).sockets.size)
    }
  })

  // the PostgreSQL archive (issue 16): read from the archiver at scrape time, 0 without one
  const archiver = () => fastify.hasDecorator('archiver') ? fastify.archiver : undefined
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'switchboard_archive_lag_messages',
    help: 'Messages in Redis not yet archived in PostgreSQL (rooms seen by the last archiver pass)',
    registers: [registry],
    collect () { this.set(archiver()?.lag ?? 0) }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'switchboard_archive_errors_total',
    help: 'Failed archive inserts, plus messages dropped unarchived at the backlog bound, plus archiver process crashes',
    registers: [registry],
    collect () { this.reset(); this.inc(archiver()?.errors ?? 0) }
  })

  const authorize = c.METRICS_TOKEN === undefined ? undefined : tokenCheck(c.METRICS_TOKEN)

  await fastify.register(fastifyMetrics, {
    // this app's registry instead of prom-client's global one
    promClient: { ...promClient, register: registry },
    defaultMetrics: { enabled: true, register: registry },
    routeMetrics: {
      enabled: true,
      routeBlacklist: ['/metrics'],
      // requests that match no route are counted too, under one route value (SPEC §6)
      registeredRoutesOnly: false,
      invalidRouteGroup: UNMATCHED_ROUTE,
      overrides: {
        histogram: { registers: [registry] },
        summary: { registers: [registry] }
      }
    },
    // fastify-metrics supplies the handler; the route carries the token check
    endpoint: {
      url: '/metrics',
      method: 'GET',
      logLevel: 'warn',
      schema: { hide: true },
      ...(authorize !== undefined && { onRequest: authorize })
    } as unknown as RouteOptions
  })

  fastify.decorate('appMetrics', appMetrics)
}, { name: 'metrics', dependencies: ['config', 'lifecycle'], fastify: '5.x' })

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

function tokenCheck (token: string) {
  const expected = digest(token)
  return async function metricsAuth (request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization
    const given = bearerToken(header)
    // hash first: timingSafeEqual needs equal lengths, and the digest hides the token's length
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      throw appError('unauthorized', header === undefined ? 'metrics require a bearer token' : 'invalid metrics token')
    }
  }
}
