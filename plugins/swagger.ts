/** OpenAPI document from the routes' TypeBox schemas, served at /docs/json with Swagger UI at /docs. */
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { docsCsp } from './security-headers.js'

export default fp(async (fastify) => {
  await fastify.register(swagger, {
    openapi: {
      info: { title: 'Switchboard', version: '0.1.0', description: 'Realtime API: message history and presence over REST. The Socket.IO API is described by the AsyncAPI document at [/docs/asyncapi.json](/docs/asyncapi.json).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }]
    }
  })
  // a CSP that keeps Swagger UI working: its own scripts and styles only (plugins/security-headers.ts)
  await fastify.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, transformStaticCSP: docsCsp })
}, { name: 'swagger', fastify: '5.x' })
