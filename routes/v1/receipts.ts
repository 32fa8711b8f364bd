/** REST read receipts (SPEC §6): thin, schema plus one service call. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '../../src/schemas/type.js'
import { ErrorResponses, MessageId, RoomId } from '../../src/schemas/common.js'

const Params = Type.Object({ roomId: RoomId })
const Receipts = Type.Object({
  roomId: RoomId,
  receipts: Type.Record(Type.String(), MessageId, { description: 'userId → the last message id that user has read' })
})

const receiptRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/rooms/:roomId/receipts', {
    schema: {
      summary: 'Every member\'s last-read message in a room',
      params: Params,
      response: { 200: Receipts, ...ErrorResponses }
    }
  }, async (request) => await fastify.receipts.service.list(request.principal!, request.params.roomId, request.deadline))
}

export default receiptRoutes
