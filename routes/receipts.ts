/** REST read receipts (SPEC §6): thin, schema plus one service call. */
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '../src/schemas/type.js'
import { ErrorBody, MessageId, RoomId } from '../src/schemas/common.js'

const Params = Type.Object({ roomId: RoomId })
const Receipts = Type.Object({
  roomId: RoomId,
  receipts: Type.Record(Type.String(), MessageId, { description: 'userId → the last message id that user has read' })
})

export default async function receiptRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get<{ Params: Static<typeof Params> }>('/rooms/:roomId/receipts', {
    onRequest: fastify.requireAuth,
    schema: {
      summary: 'Every member\'s last-read message in a room',
      params: Params,
      response: { 200: Receipts, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody }
    }
  }, async (request) => {
    return await fastify.receipts.list(request.principal!, request.params.roomId)
  })
}
