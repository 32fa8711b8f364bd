/** Decorates the instance with the parsed configuration (parsed once, in server.ts or the test helper). */
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export default fp<{ config: Config }>(async (fastify, opts) => {
  fastify.decorate('config', opts.config)
}, { name: 'config', fastify: '5.x' })
