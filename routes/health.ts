/**
 * Liveness and readiness (SPEC §6). Readiness is 503 while the instance drains, or Redis is down
 * or does not answer a PING within 1 s (cached for 250 ms, so probes do not load Redis; a freeze
 * shows within 1.25 s). Probes are logged at `warn` and above only (SPEC §2 LOG_LEVEL).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '../src/schemas/type.js'
import { appError, toRestError } from '../src/errors.js'

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health/live', {
    logLevel: 'warn',
    schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/health/ready', { logLevel: 'warn', schema: { hide: true } }, async (_request, reply) => {
    const redis = fastify.redis === null ? 'n/a' : await fastify.redis.probe() ? 'up' : 'down'
    const draining = fastify.lifecycle.draining
    if (draining || redis === 'down') {
      // the contract's error body, plus what a probe or an operator reads: why, and Redis' state
      const body = toRestError(appError('unavailable', draining ? 'instance is draining' : 'redis is unreachable'))
      return reply.code(503).send({ ...body, status: draining ? 'draining' : 'unavailable', redis })
    }
    return { status: 'ok', redis }
  })
}

export default healthRoutes
