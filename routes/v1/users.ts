/**
 * REST for internal services (SPEC §6): push a notification to a user's sockets, or disconnect
 * them all. `service` and `admin` principals only. Counts come from the presence registry;
 * delivery goes through the Socket.IO adapter, so no instance waits for the others. The same
 * service function answers the `/admin` event `user:disconnect`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '../../src/schemas/type.js'
import { UserId, ErrorResponses } from '../../src/schemas/common.js'

const Params = Type.Object({ userId: UserId })
const NotificationBody = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 128, description: 'what kind of notification, for the client to dispatch on' }),
  data: Type.Optional(Type.Unknown({ description: 'any JSON value; null when absent' }))
}, { additionalProperties: false })

const userRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const presence = fastify.presence.service
  const onRequest = fastify.requireRole('service', 'admin')

  fastify.post('/users/:userId/notifications', {
    onRequest,
    schema: {
      summary: 'Emit `notification` { type, data, at } to every socket of a user (service and admin principals)',
      params: Params,
      body: NotificationBody,
      response: { 202: Type.Object({ delivered: Type.Integer({ minimum: 0, description: 'the user\'s live connections' }) }), ...ErrorResponses }
    }
  }, async (request, reply) => {
    const r = await presence.notify(request.params.userId, request.body, request.deadline)
    return reply.code(202).send(r)
  })

  fastify.delete('/users/:userId/connections', {
    onRequest,
    schema: {
      summary: 'Disconnect every socket of a user on every instance (service and admin principals)',
      params: Params,
      response: { 200: Type.Object({ disconnected: Type.Integer({ minimum: 0 }) }), ...ErrorResponses }
    }
  }, async (request) => await presence.disconnectUser(request.params.userId, request.deadline))
}

export default userRoutes
