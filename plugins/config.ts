/**
 * Decorates the instance with the parsed configuration (parsed once, in server.ts or the test
 * helper), and with the one client-address rule of TRUST_PROXY (src/net/client-address.ts).
 */
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'
import { createClientAddress, type ClientAddress } from '../src/net/client-address.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** the client's IP address from the TCP peer and X-Forwarded-For, for REST and the handshake (SPEC §2 TRUST_PROXY) */
    clientAddress: ClientAddress
  }
}

export default fp<{ config: Config }>(async (fastify, opts) => {
  fastify.decorate('config', opts.config)
  fastify.decorate('clientAddress', createClientAddress(opts.config.trustProxy))
}, { name: 'config', fastify: '5.x' })
