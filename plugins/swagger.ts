/** OpenAPI document from the routes' TypeBox schemas, served at /docs/json with Swagger UI at /docs. */
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export default fp(async (fastify) => {
  await fastify.register(swagger, {
    openapi: {
      info: { title: 'Switchboard', version: '0.1.0', description: 'Realtime API: message history and presence over REST. The Socket.IO API is described by the AsyncAPI document at [/docs/asyncapi.json](/docs/asyncapi.json).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }]
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'swagger', fastify: '5.x' })
