/**
 * Decorates the instance with the parsed configuration (parsed once, in server.ts or the test
 * helper), the one client-address rule of TRUST_PROXY (src/net/client-address.ts), and the one
 * Redis key builder of REDIS_KEY_PREFIX that every store, limiter and adapter names its keys with.
 */
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'
import { createClientAddress, type ClientAddress } from '../src/net/client-address.js'
import { createKeys, type Keys } from '../src/stores/keys.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** the client's IP address from the TCP peer and X-Forwarded-For, for REST and the handshake (SPEC §2 TRUST_PROXY) */
    clientAddress: ClientAddress
    /** the Redis key builder (REDIS_KEY_PREFIX) */
    keys: Keys
  }
}

export default fp<{ config: Config }>(async (fastify, opts) => {
  fastify.decorate('config', opts.config)
  fastify.decorate('clientAddress', createClientAddress(opts.config.trustProxy))
  fastify.decorate('keys', createKeys(opts.config.REDIS_KEY_PREFIX))
}, { name: 'config', fastify: '5.x' })
