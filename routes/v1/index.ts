/**
 * The `/v1` REST API (SPEC §6): one plugin, one authentication hook. Every route below needs a
 * valid bearer token (`request.principal` is set before validation, so an anonymous caller gets
 * 401, not 400); routes for `service` and `admin` principals add `requireRole` themselves.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import messageRoutes from './messages.js'
import presenceRoutes from './presence.js'
import receiptRoutes from './receipts.js'
import userRoutes from './users.js'

const v1: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.addHook('onRequest', fastify.requireAuth)
  await fastify.register(messageRoutes)
  await fastify.register(presenceRoutes)
  await fastify.register(receiptRoutes)
  await fastify.register(userRoutes)
}

export default v1
