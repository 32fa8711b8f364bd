/**
 * Instance lifecycle state shared by health checks, the socket handshake and the drain:
 * whether this instance is draining (SIGTERM received) and when it started.
 */
import fp from 'fastify-plugin'

export interface Lifecycle {
  draining: boolean
  startedAt: number
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

export default fp(async (fastify) => {
  fastify.decorate('lifecycle', { draining: false, startedAt: Date.now() })
}, { name: 'lifecycle', fastify: '5.x' })
