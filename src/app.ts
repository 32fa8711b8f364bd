/**
 * The application as a Fastify plugin: registers the resource plugins in their declared order,
 * then the routes, and the error and not-found handlers that give every REST error the
 * contract's shape. `server.ts` and the tests build it the same way (see build.ts).
 */
import type { FastifyInstance } from 'fastify'
import cors from '@fastify/cors'
import { toRestError, normalizeError } from './errors.js'
import { parseJsonBody } from './schemas/rest.js'
import { requirePreflight } from './http/framework-errors.js'
import type { Config } from './config.js'
import configPlugin from '../plugins/config.js'
import lifecyclePlugin from '../plugins/lifecycle.js'
import redisPlugin from '../plugins/redis.js'
import jwtPlugin from '../plugins/jwt.js'
import metricsPlugin from '../plugins/metrics.js'
import socketIoPlugin from '../plugins/socket-io.js'
import limitsPlugin from '../plugins/limits.js'
import messagesPlugin from '../plugins/messages.js'
import presencePlugin from '../plugins/presence.js'
import receiptsPlugin from '../plugins/receipts.js'
import realtimePlugin from '../plugins/realtime.js'
import swaggerPlugin from '../plugins/swagger.js'
import securityHeadersPlugin from '../plugins/security-headers.js'
import healthRoutes from '../routes/health.js'
import v1Routes from '../routes/v1/index.js'
import asyncApiRoutes from '../routes/asyncapi.js'
import demoRoutes from '../routes/demo.js'

export interface AppOptions { config: Config }

export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  fastify.setErrorHandler((err, request, reply) => {
    const e = normalizeError(err)
    if (e.code === 'internal') {
      request.log.error({ err }, 'request failed')
    } else if (e.statusCode >= 500) {
      request.log.warn({ code: e.code, reason: e.message }, 'request refused')
    }
    const body = toRestError(e)
    if (body.retryAfterMs !== undefined) reply.header('retry-after', Math.max(1, Math.ceil(body.retryAfterMs / 1000)))
    return reply.code(body.statusCode).send(body)
  })
  fastify.setNotFoundHandler((request, reply) => {
    const body = toRestError(normalizeError({ statusCode: 404 }))
    body.message = `route ${request.method} ${request.url.split('?')[0].slice(0, 200)} not found`
    return reply.code(404).send(body)
  })

  // JSON bodies get the sockets' payload rules (SPEC §4); see schemas/rest.ts
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody)

  // before @fastify/cors' own hook: an OPTIONS that is not a preflight gets the contract's body
  fastify.addHook('onRequest', requirePreflight)

  // plugins/ — resources first, each declaring what it depends on
  await fastify.register(configPlugin, { config: opts.config })
  await fastify.register(lifecyclePlugin)
  await fastify.register(redisPlugin)
  await fastify.register(jwtPlugin)
  await fastify.register(cors, {
    origin: opts.config.corsOrigins === '*' ? '*' : opts.config.corsOrigins,
    // SPEC §2: what a browser app on another origin needs, DELETE /v1/users/:id/connections included
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key']
  })
  await fastify.register(securityHeadersPlugin)
  await fastify.register(metricsPlugin)
  await fastify.register(socketIoPlugin)
  // the features, each `fastify.<feature> = { store, service, … }`; then the socket wiring
  await fastify.register(limitsPlugin)
  await fastify.register(messagesPlugin)
  await fastify.register(presencePlugin)
  await fastify.register(receiptsPlugin)
  await fastify.register(realtimePlugin)
  await fastify.register(swaggerPlugin)

  // routes/
  await fastify.register(healthRoutes)
  await fastify.register(v1Routes, { prefix: '/v1' })
  await fastify.register(asyncApiRoutes)
  await fastify.register(demoRoutes)
}
