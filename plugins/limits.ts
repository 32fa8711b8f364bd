/**
 * Limits and protection (SPEC §7), one feature: `fastify.limits`.
 *
 * - `store`: the RateLimitStore (Redis when configured, shared by every instance; in-process otherwise).
 * - `send`: the per-user send limit, a token bucket of RATE_LIMIT_SEND_BURST refilled at
 *   RATE_LIMIT_SEND_PER_SECOND, which the message service applies to both transports.
 * - `socket`: the per-connection event limit and the far-over disconnect (src/realtime/limits.ts),
 *   a `socket.use` middleware attached by the connection handler.
 * - `connectionRefusal`: the per-IP connection limit's verdict, a namespace middleware that the
 *   realtime plugin runs before the handshake authentication (src/realtime/transport-guard.ts,
 *   which also enforces CORS_ORIGINS on the Engine.IO handshake).
 * - the REST limit through @fastify/rate-limit: RATE_LIMIT_HTTP_MAX per RATE_LIMIT_HTTP_WINDOW_MS
 *   per principal (`sub`), per IP when anonymous or when the token does not verify. One
 *   instance-wide onRequest hook, before the /v1 auth hook, so failed authentications count too;
 *   /health/*, /metrics and /docs are not limited; if Redis fails, requests pass (skipOnError).
 * - the frame and outgoing-buffer rules of the transports (src/realtime/protection.ts), whose
 *   per-packet listener also stamps each ping for the RTT metric (src/metrics/socket.ts).
 *
 * Any RATE_LIMIT_* set to 0 switches its limit off: nothing is registered for it and no Redis call is made.
 */
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import type { SendLimiter } from '../src/domain/messages.js'
import { appError } from '../src/errors.js'
import type { TokenBucketRule } from '../src/model/rate-window.js'
import type { RateLimitStore } from '../src/stores/rate-limit.js'
import { MemoryRateLimitStore } from '../src/stores/memory/rate-limit.js'
import { RedisRateLimitStore } from '../src/stores/redis/rate-limit.js'
import { SocketLimits, LIMITER_BUDGET_MS } from '../src/realtime/limits.js'
import { protectTransports, type Engine } from '../src/realtime/protection.js'
import { pingWritten } from '../src/metrics/socket.js'
import { installTransportGuard, type TransportGuard } from '../src/realtime/transport-guard.js'

export interface Limits {
  store: RateLimitStore
  /** the per-user send limit; undefined when RATE_LIMIT_SEND_BURST or _PER_SECOND is 0 */
  send: SendLimiter | undefined
  socket: SocketLimits
  /** namespace middleware: refuses a socket whose Engine.IO session was over the per-IP limit */
  connectionRefusal: TransportGuard['refusal']
}

declare module 'fastify' {
  interface FastifyInstance {
    limits: Limits
  }
}

/** Routes outside the REST limit: probes, the scraper and the API documentation. */
const UNLIMITED = /^\/(health\/|metrics$|docs(\/|$))/

export default fp(async (fastify) => {
  const c = fastify.config
  const keys = fastify.keys
  const metrics = fastify.appMetrics
  const redis = fastify.redis
  const engine = fastify.io.engine as unknown as Engine
  const log = fastify.log.child({ component: 'limits' })
  const store: RateLimitStore = redis === null ? new MemoryRateLimitStore() : new RedisRateLimitStore({ client: redis.client })
  fastify.addHook('onClose', async () => { await store.close() })

  let send: Limits['send']
  if (c.RATE_LIMIT_SEND_BURST > 0 && c.RATE_LIMIT_SEND_PER_SECOND > 0) {
    const rule: TokenBucketRule = { burst: c.RATE_LIMIT_SEND_BURST, perSecond: c.RATE_LIMIT_SEND_PER_SECOND }
    const key = (userId: string): string => keys.userRateLimit(userId, 'send')
    send = { rule, key }
  }

  const socket = new SocketLimits({
    eventsPerMinute: c.RATE_LIMIT_EVENTS_PER_MINUTE,
    sendPerSecond: send !== undefined ? c.RATE_LIMIT_SEND_PER_SECOND : 0,
    onRefused: () => { metrics.rateLimited.inc({ kind: 'event' }) },
    onFarOver: (s, kind, threshold) => {
      metrics.rateLimitDisconnects.inc()
      log.warn({ sid: s.id, sub: s.data.principal?.sub, ip: s.data.ip, kind, threshold }, 'far over its rate limit; disconnecting')
    }
  })

  protectTransports(engine, {
    maxBufferBytes: c.MAX_SOCKET_BUFFER_BYTES,
    // the RTT's start (SPEC §6), from the same packetCreate listener: one listener per packet
    onPing: pingWritten,
    onOversizedFrame: (conn) => {
      metrics.oversizedFrames.inc()
      log.info({ conn: conn.id, transport: conn.transport, maxFrameBytes: c.MAX_FRAME_BYTES }, 'frame over MAX_FRAME_BYTES; connection closed')
    },
    onSlowConsumer: (conn, bytes) => {
      metrics.slowConsumerDisconnects.inc()
      log.warn({ conn: conn.id, transport: conn.transport, bufferedBytes: bytes }, 'outgoing buffer over MAX_SOCKET_BUFFER_BYTES; connection closed')
    }
  })

  const guardLog = fastify.log.child({ component: 'transport-guard' })
  const guard = installTransportGuard(engine, {
    origins: c.corsOrigins,
    ...(c.RATE_LIMIT_CONNECTIONS_PER_10S > 0 && {
      connectionLimit: {
        addressOf: (req: IncomingMessage) => fastify.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']),
        store,
        perTenSeconds: c.RATE_LIMIT_CONNECTIONS_PER_10S,
        keyOf: (ip: string) => keys.ipRateLimit(ip, 'conn'),
        normalizeIp: (ip: string) => rateLimit.normalizeIP(ip),
        onRefused: () => { metrics.rateLimited.inc({ kind: 'connection' }) },
        onError: (err: unknown) => { guardLog.debug({ err }, 'connection limit unavailable; connection let through') }
      }
    }),
    isDraining: () => fastify.lifecycle.draining,
    onForeignOrigin: (origin) => { guardLog.info({ origin }, 'socket handshake from an origin not in CORS_ORIGINS refused') }
  })

  fastify.decorate('limits', { store, send, socket, connectionRefusal: guard.refusal })

  if (c.RATE_LIMIT_HTTP_MAX > 0) {
    await fastify.register(rateLimit, {
      // not per route: one instance-wide hook below, so every route (and 404s) share a budget
      global: false,
      max: c.RATE_LIMIT_HTTP_MAX,
      timeWindow: c.RATE_LIMIT_HTTP_WINDOW_MS,
      // its one command per request gets the limiter's own budget (see the hook below)
      ...(redis !== null && { redis: redis.within(LIMITER_BUDGET_MS) }),
      nameSpace: keys.httpRateLimit,
      skipOnError: true,
      keyGenerator: async (request: FastifyRequest) => {
        try {
          return `u:${(await fastify.authenticateRequest(request)).sub}`
        } catch {
          return `ip:${rateLimit.normalizeIP(fastify.clientAddress(request.raw.socket.remoteAddress, request.headers['x-forwarded-for']))}`
        }
      },
      onExceeded: () => { metrics.rateLimited.inc({ kind: 'http' }) },
      errorResponseBuilder: (_request, ctx) => appError('rate_limited', `too many requests; retry in ${ctx.after}`, { retryAfterMs: ctx.ttl })
    })
    const limit = fastify.rateLimit()
    fastify.addHook('onRequest', async function restLimit (request, reply) {
      const url = request.routeOptions.url
      if (url !== undefined && UNLIMITED.test(url)) return
      // a request that needs no Redis (a 404, a 401) must not wait on it: the limiter gets a
      // short budget of its own and lets the request through when Redis does not answer in it
      // (the store's client bounds its command to LIMITER_BUDGET_MS)
      await limit.call(this, request, reply)
    })
  }
}, { name: 'limits', dependencies: ['config', 'lifecycle', 'redis', 'jwt', 'metrics', 'socket-io'], fastify: '5.x' })
