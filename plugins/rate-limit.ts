/**
 * Limits and protection (SPEC §7), as two plugins because they hook in at two moments:
 *
 * `rate-limit` (before the services and routes):
 * - the RateLimitStore (Redis when configured, shared by every instance; in-process otherwise);
 * - the per-user send limiter (`fastify.limits.send`), a token bucket of RATE_LIMIT_SEND_BURST
 *   refilled at RATE_LIMIT_SEND_PER_SECOND, which the message service checks for both
 *   transports (plugins/services.ts);
 * - the REST limit through @fastify/rate-limit: RATE_LIMIT_HTTP_MAX per
 *   RATE_LIMIT_HTTP_WINDOW_MS per principal (`sub`), per IP when anonymous or when the token
 *   does not verify; its Redis store when Redis is configured. It runs as an instance-wide
 *   onRequest hook, before the routes' own requireAuth, so failed authentications count too.
 *   /health/*, /metrics and /docs are not limited. If Redis fails, requests pass
 *   (skipOnError): the limiter must not turn a Redis outage into a REST outage.
 *
 * `socket-limits` (after the realtime plugin): the per-connection event limit and the far-over
 * disconnect (src/realtime/limits.ts) and the frame and outgoing-buffer rules (src/realtime/protection.ts).
 *
 * Any RATE_LIMIT_* set to 0 switches its limit off: nothing is registered for it and no Redis
 * call is made.
 */
import fp from 'fastify-plugin'
import type { SendLimiter } from '../src/domain/messages.js'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { appError } from '../src/errors.js'
import { runWithDeadline } from '../src/deadline.js'
import type { TokenBucketRule } from '../src/model/rate-window.js'
import type { RateLimitStore } from '../src/stores/rate-limit.js'
import { MemoryRateLimitStore } from '../src/stores/memory/rate-limit.js'
import { RedisRateLimitStore } from '../src/stores/redis/rate-limit.js'
import { SocketLimits, LIMITER_BUDGET_MS } from '../src/realtime/limits.js'
import { protectTransports, type Engine } from '../src/realtime/protection.js'
import type { AppSocket } from '../src/realtime/types.js'

export interface Limits {
  store: RateLimitStore
  /** the per-user send limit; undefined when RATE_LIMIT_SEND_BURST or _PER_SECOND is 0 */
  send: SendLimiter | undefined
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
  const keys = fastify.stores.keys
  const metrics = fastify.appMetrics
  const redis = fastify.redis
  const store: RateLimitStore = redis === null ? new MemoryRateLimitStore() : new RedisRateLimitStore({ client: redis.client })

  let send: Limits['send']
  if (c.RATE_LIMIT_SEND_BURST > 0 && c.RATE_LIMIT_SEND_PER_SECOND > 0) {
    const rule: TokenBucketRule = { burst: c.RATE_LIMIT_SEND_BURST, perSecond: c.RATE_LIMIT_SEND_PER_SECOND }
    const key = (userId: string): string => keys.userRateLimit(userId, 'send')
    // refusals are counted by the services plugin, whichever store decided
    send = { rule, key }
  }
  fastify.decorate('limits', { store, send })
  fastify.addHook('onClose', async () => { await store.close() })

  if (c.RATE_LIMIT_HTTP_MAX > 0) {
    await fastify.register(rateLimit, {
      // not per route: one instance-wide hook below, so every route (and 404s) share a budget
      global: false,
      max: c.RATE_LIMIT_HTTP_MAX,
      timeWindow: c.RATE_LIMIT_HTTP_WINDOW_MS,
      ...(redis !== null && { redis: redis.client }),
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
      await runWithDeadline(LIMITER_BUDGET_MS, async () => { await limit.call(this, request, reply) })
    })
  }
}, { name: 'rate-limit', dependencies: ['config', 'redis', 'jwt', 'stores', 'metrics'], fastify: '5.x' })

/** The socket-side limits; registered after the realtime plugin, whose lists it fills. */
export const socketLimitsPlugin = fp(async (fastify) => {
  const c = fastify.config
  const rt = fastify.realtime
  const metrics = fastify.appMetrics
  const log = fastify.log.child({ component: 'limits' })

  const limits = new SocketLimits({
    eventsPerMinute: c.RATE_LIMIT_EVENTS_PER_MINUTE,
    sendPerSecond: fastify.limits.send !== undefined ? c.RATE_LIMIT_SEND_PER_SECOND : 0,
    onRefused: () => { metrics.rateLimited.inc({ kind: 'event' }) },
    onFarOver: (socket, kind, threshold) => {
      metrics.rateLimitDisconnects.inc()
      log.warn({ sid: socket.id, sub: socket.data.principal?.sub, ip: socket.data.ip, kind, threshold }, 'far over its rate limit; disconnecting')
    }
  })
  rt.guards.push(limits.guard)
  rt.onRateLimited.push((socket, event, retryAfterMs) => limits.refused(socket, event, retryAfterMs))
  // unknown events are answered not_found by the namespace, and still count toward the limit;
  // one shared listener (socket.io calls it with `this` = the socket)
  function countUnknown (this: AppSocket, event: string): void {
    if (!rt.knownEvents.has(event)) limits.countUnknown(this, event)
  }
  if (c.RATE_LIMIT_EVENTS_PER_MINUTE > 0) rt.extensions.push((socket) => { socket.onAny(countUnknown) })

  // the per-IP connection limit counts Engine.IO sessions: plugins/transport-guard.ts

  protectTransports(fastify.io.engine as unknown as Engine, {
    maxBufferBytes: c.MAX_SOCKET_BUFFER_BYTES,
    onOversizedFrame: (conn) => {
      metrics.oversizedFrames.inc()
      log.info({ conn: conn.id, transport: conn.transport, maxFrameBytes: c.MAX_FRAME_BYTES }, 'frame over MAX_FRAME_BYTES; connection closed')
    },
    onSlowConsumer: (conn, bytes) => {
      metrics.slowConsumerDisconnects.inc()
      log.warn({ conn: conn.id, transport: conn.transport, bufferedBytes: bytes }, 'outgoing buffer over MAX_SOCKET_BUFFER_BYTES; connection closed')
    }
  })
}, { name: 'socket-limits', dependencies: ['config', 'lifecycle', 'stores', 'rate-limit', 'metrics', 'socket-io', 'realtime'], fastify: '5.x' })
