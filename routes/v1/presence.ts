/**
 * REST presence (SPEC §6): a user's state, many users' states in one round trip to Redis, and
 * a room's members on every instance. Thin: schema, then one service call — the same functions
 * that answer `presence:subscribe`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '../../src/schemas/type.js'
import { PresenceState, RoomId, UserId, ErrorResponses } from '../../src/schemas/common.js'
import { MAX_PRESENCE_QUERY } from '../../src/domain/presence.js'

const UserParams = Type.Object({ userId: UserId })
const RoomParams = Type.Object({ roomId: RoomId })
const QueryBody = Type.Object({
  userIds: Type.Array(UserId, { maxItems: MAX_PRESENCE_QUERY, description: `at most ${MAX_PRESENCE_QUERY} user ids` })
}, { additionalProperties: false })
const RoomPresence = Type.Object({
  roomId: RoomId,
  users: Type.Array(Type.Object({ userId: UserId, connections: Type.Integer({ minimum: 1 }) }))
})
/** 1000 ids of up to 128 characters (4 bytes each in UTF-8), quoted: past the default 64 KiB. */
const QUERY_BODY_LIMIT = 640 * 1024

const presenceRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const presence = fastify.presence.service

  fastify.get('/presence/:userId', {
    schema: {
      summary: 'A user\'s presence: online while any of their sockets is connected on any instance',
      params: UserParams,
      response: { 200: PresenceState, ...ErrorResponses }
    }
  }, async (request) => await presence.get(request.params.userId, request.deadline))

  fastify.post('/presence/query', {
    bodyLimit: QUERY_BODY_LIMIT,
    schema: {
      summary: 'Presence of many users at once, in request order',
      body: QueryBody,
      response: { 200: Type.Object({ users: Type.Array(PresenceState) }), ...ErrorResponses }
    }
  }, async (request) => ({ users: await presence.query(request.body.userIds, request.deadline) }))

  fastify.get('/rooms/:roomId/presence', {
    schema: {
      summary: 'Users with a socket in the room on any instance, with their connection counts',
      params: RoomParams,
      response: { 200: RoomPresence, ...ErrorResponses }
    }
  }, async (request) => await presence.roomPresence(request.principal!, request.params.roomId, request.deadline))
}

export default presenceRoutes
