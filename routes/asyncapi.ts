/** `GET /docs/asyncapi.json` (SPEC §6): the AsyncAPI 3.0 document of the socket API, public, built once. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { asyncApiDocument } from '../src/asyncapi.js'

const asyncApiRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const body = JSON.stringify(asyncApiDocument({ version: '0.1.0' }))
  fastify.get('/docs/asyncapi.json', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type('application/json; charset=utf-8').send(body)
  })
}

export default asyncApiRoutes
