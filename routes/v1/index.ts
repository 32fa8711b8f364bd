/**
 * The `/v1` REST API (SPEC §6): one plugin, one authentication hook. Every route below needs a
 * valid bearer token (`request.principal` is set before validation, so an anonymous caller gets
 * 401, not 400); routes for `service` and `admin` principals add `requireRole` themselves.
 * A route without query parameters refuses any (`invalid_payload`), like the routes that have
 * some refuse unknown ones: one rule for every route, so a mistyped parameter is never silently
 * ignored.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '../../src/schemas/type.js'
import messageRoutes from './messages.js'
import presenceRoutes from './presence.js'
import receiptRoutes from './receipts.js'
import userRoutes from './users.js'

const NO_QUERY = Type.Object({}, { additionalProperties: false })

const v1: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.addHook('onRequest', fastify.requireAuth)
  fastify.addHook('onRoute', (route) => {
    route.schema ??= {}
    route.schema.querystring ??= NO_QUERY
  })
  await fastify.register(messageRoutes)
  await fastify.register(presenceRoutes)
  await fastify.register(receiptRoutes)
  await fastify.register(userRoutes)
}

export default v1
