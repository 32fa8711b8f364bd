/**
 * Liveness and readiness (SPEC §6). Readiness is 503 while the instance drains, or Redis is down
 * or does not answer a PING within 1 s (cached for 1 s, so probes do not load Redis). Probes are
 * logged at `warn` and above only (SPEC §2 LOG_LEVEL).
 */
import type { FastifyInstance } from 'fastify'
import { Type } from '../src/schemas/type.js'

export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get('/health/live', {
    logLevel: 'warn',
    schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/health/ready', { logLevel: 'warn', schema: { hide: true } }, async (_request, reply) => {
    const redis = fastify.redis === null ? 'n/a' : await fastify.redis.probe() ? 'up' : 'down'
    if (fastify.lifecycle.draining || redis === 'down') {
      const message = fastify.lifecycle.draining ? 'instance is draining' : 'redis is unreachable'
      return reply.code(503).send({ statusCode: 503, code: 'unavailable', error: 'Service Unavailable', message, status: fastify.lifecycle.draining ? 'draining' : 'unavailable', redis })
    }
    return { status: 'ok', redis }
  })
}
