/**
 * REST message history and service publishing (SPEC §6). Thin: schema, then one service call;
 * the broadcast happens through the store's publication like any socket message.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { appError, isAppError } from '../../src/errors.js'
import { Type } from '../../src/schemas/type.js'
import { ClientMsgId, Message, Meta, MessageId, RoomId, Text, UserId, ErrorResponses } from '../../src/schemas/common.js'

const Params = Type.Object({ roomId: RoomId })
const HistoryQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  before: Type.Optional(MessageId),
  after: Type.Optional(MessageId)
}, { additionalProperties: false })
const PublishBody = Type.Object({
  text: Text,
  userId: Type.Optional(UserId),
  name: Type.Optional(Type.String({ maxLength: 256 })),
  meta: Type.Optional(Meta),
  clientMsgId: Type.Optional(ClientMsgId)
}, { additionalProperties: false })
const IdempotencyHeaders = Type.Object({ 'idempotency-key': Type.Optional(ClientMsgId) })

const messageRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const messages = fastify.messages.service
  const { messagesSent, rateLimited } = fastify.appMetrics
  // SPEC §6 switchboard_rate_limited_total{kind="send"}: the REST side of what the socket
  // handler wrapper reports for message:send
  const countRefusal = (err: unknown): never => {
    if (isAppError(err) && err.code === 'rate_limited') rateLimited.inc({ kind: 'send' })
    throw err
  }

  fastify.get('/rooms/:roomId/messages', {
    schema: {
      summary: 'Read a room\'s message history, oldest first',
      params: Params,
      querystring: HistoryQuery,
      response: { 200: Type.Object({ messages: Type.Array(Message), hasMore: Type.Boolean() }), ...ErrorResponses }
    }
  }, async (request) => {
    const { roomId } = request.params
    return await messages.history(request.principal!, { roomId, ...request.query }, request.deadline)
  })

  fastify.post('/rooms/:roomId/messages', {
    onRequest: fastify.requireRole('service', 'admin'),
    schema: {
      summary: 'Publish a message to a room (service and admin principals)',
      params: Params,
      headers: IdempotencyHeaders,
      body: PublishBody,
      response: { 200: Type.Object({ message: Message }), 201: Type.Object({ message: Message }), ...ErrorResponses }
    }
  }, async (request, reply) => {
    const { roomId } = request.params
    const principal = request.principal!
    const header = request.headers['idempotency-key']
    if (header !== undefined && request.body.clientMsgId !== undefined && header !== request.body.clientMsgId) {
      throw appError('invalid_payload', 'Idempotency-Key and clientMsgId differ; send one, or the same value in both', {
        details: [{ path: 'headers/idempotency-key', message: 'must equal body/clientMsgId' }]
      })
    }
    const clientMsgId = request.body.clientMsgId ?? header
    const { message, duplicate } = await messages.send(principal, { ...request.body, roomId, ...(clientMsgId !== undefined && { clientMsgId }) }, 'rest', request.deadline).catch(countRefusal)
    // counted once per accepted message (a repeat of a clientMsgId is not a new one)
    if (!duplicate) messagesSent.rest()
    return reply.code(duplicate ? 200 : 201).send({ message })
  })
}

export default messageRoutes
