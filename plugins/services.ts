/** The domain services, built over the stores; REST routes and socket handlers both call these. */
import fp from 'fastify-plugin'
import { createMessageService, type MessageService } from '../src/domain/messages.js'
import { isAppError } from '../src/errors.js'

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
  const messages = createMessageService({
    history: fastify.stores.history,
    roomAccess: c.ROOM_ACCESS,
    maxLength: c.MESSAGE_MAX_LENGTH,
    sendLimit: fastify.limits.send
  })
  const { messagesSent, rateLimited } = fastify.appMetrics
  const { catchups } = fastify.appMetrics.socket
  const caughtUp = { true: catchups.slot({ recovered: 'true' }), false: catchups.slot({ recovered: 'false' }) }
  fastify.decorate('services', {
    messages: {
      ...messages,
      // counted once per accepted message, whatever the transport (a repeat is not a new one)
      send: async (principal, input, via = 'rest') => {
        let result
        try {
          result = await messages.send(principal, input, via)
        } catch (err) {
          if (isAppError(err) && err.code === 'rate_limited') rateLimited.inc({ kind: 'send' })
          throw err
        }
        if (!result.duplicate) messagesSent[via]()
        return result
      },
      // `room:join` with `since` (SPEC §6 switchboard_catchups_total)
      catchUp: async (principal, roomId, since) => {
        const r = await messages.catchUp(principal, roomId, since)
        catchups.inc(r.recovered ? caughtUp.true : caughtUp.false)
        return r
      }
    }
  })
}, { name: 'services', dependencies: ['config', 'stores', 'rate-limit', 'metrics'], fastify: '5.x' })
