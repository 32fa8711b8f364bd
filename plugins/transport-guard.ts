/**
 * Engine.IO-level checks of new sessions (src/realtime/transport-guard.ts): CORS_ORIGINS on the
 * handshake of both transports, and the per-IP connection limit counted per Engine.IO session,
 * whose refusal reaches the client at its namespace CONNECT as `connect_error` `rate_limited`.
 */
import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { installTransportGuard } from '../src/realtime/transport-guard.js'
import type { Engine } from '../src/realtime/protection.js'

export default fp(async (fastify) => {
  const c = fastify.config
  const metrics = fastify.appMetrics
  const keys = fastify.stores.keys
  const log = fastify.log.child({ component: 'transport-guard' })
  const guard = installTransportGuard(fastify.io.engine as unknown as Engine, {
    origins: c.corsOrigins,
    ...(c.RATE_LIMIT_CONNECTIONS_PER_10S > 0 && {
      connectionLimit: {
        addressOf: (req: IncomingMessage) => fastify.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']),
        store: fastify.limits.store,
        perTenSeconds: c.RATE_LIMIT_CONNECTIONS_PER_10S,
        keyOf: (ip: string) => keys.ipRateLimit(ip, 'conn'),
        normalizeIp: (ip: string) => rateLimit.normalizeIP(ip),
        onRefused: () => { metrics.rateLimited.inc({ kind: 'connection' }) },
        onError: (err: unknown) => { log.debug({ err }, 'connection limit unavailable; connection let through') }
      }
    }),
    isDraining: () => fastify.lifecycle.draining,
    onForeignOrigin: (origin) => { log.info({ origin }, 'socket handshake from an origin not in CORS_ORIGINS refused') }
  })
  // ahead of the handshake authentication, like the limit it enforces
  fastify.realtime.preAuth.push(guard.refusal)
}, { name: 'transport-guard', dependencies: ['config', 'lifecycle', 'stores', 'rate-limit', 'metrics', 'socket-io', 'realtime'], fastify: '5.x' })
