/** The domain services, built over the stores; REST routes and socket handlers both call these. */
import fp from 'fastify-plugin'
import { createMessageService, type MessageService } from '../src/domain/messages.js'

export interface Services {
  messages: MessageService
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  fastify.decorate('services', {
    messages: createMessageService({
      history: fastify.stores.history,
      roomAccess: c.ROOM_ACCESS,
      maxLength: c.MESSAGE_MAX_LENGTH
    })
  })
}, { name: 'services', dependencies: ['config', 'stores'], fastify: '5.x' })
