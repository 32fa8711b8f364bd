/**
 * Socket.IO through fastify-socket.io (`fastify.io`), on the same HTTP server as the REST API,
 * with the adapter chosen by ADAPTER on the shared Redis connections. fastify-socket.io's own
 * preClose (which drops every socket at once) is replaced by the realtime plugin's drain; the
 * first Engine.IO middleware refuses new sessions while the instance drains (admission.ts).
 */
import fp from 'fastify-plugin'
import fastifySocketIOModule, { type FastifySocketioOptions } from 'fastify-socket.io'
import { createAdapter as createRedisAdapter, createShardedAdapter } from '@socket.io/redis-adapter'
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter'
import type { FastifyPluginAsync } from 'fastify'
import type { AppServer } from '../src/realtime/types.js'
import { drainAdmission } from '../src/realtime/admission.js'
import { ADAPTER_STREAM_MAX_LEN } from '../src/stores/redis/history.js'

// fastify-socket.io is CommonJS with an esModule default: under Node's ESM loader the default
// import is the whole exports object
const fastifySocketIO = ((fastifySocketIOModule as unknown as { default?: unknown }).default ?? fastifySocketIOModule) as FastifyPluginAsync<FastifySocketioOptions>

declare module 'fastify' {
  interface FastifyInstance {
    io: AppServer
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  const redis = fastify.redis
  const recovery = {
    maxDisconnectionDuration: c.RECOVERY_WINDOW_MS,
    // every reconnect presents a verified token, recovered or not (src/realtime/sessions.ts)
    skipMiddlewares: false
  }
  const options: FastifySocketioOptions = {
    transports: c.transports,
    cors: { origin: c.corsOrigins === '*' ? '*' : c.corsOrigins, methods: ['GET', 'POST'] },
    maxHttpBufferSize: c.MAX_FRAME_BYTES,
    // permessage-deflate costs ~230 KB per connection on Socket.IO 4.8; chat payloads are small
    perMessageDeflate: false,
    serveClient: false,
    // an Engine.IO session that never sends its namespace CONNECT is closed after this (default 45 s)
    connectTimeout: 10_000,
    cleanupEmptyChildNamespaces: true,
    // the realtime plugin drains sockets itself, in batches, before Fastify closes
    preClose: (done: Function) => done()
  }

  switch (c.ADAPTER) {
    case 'memory':
      if (c.RECOVERY_WINDOW_MS > 0) options.connectionStateRecovery = recovery
      break
    case 'redis':
      options.adapter = createRedisAdapter(redis!.adapterPub, redis!.adapterSub, { key: `${c.REDIS_KEY_PREFIX}socket.io` })
      break
    case 'redis-sharded':
      options.adapter = createShardedAdapter(redis!.adapterPub, redis!.adapterSub, { channelPrefix: `${c.REDIS_KEY_PREFIX}socket.io` })
      break
    case 'redis-streams':
      options.adapter = createStreamsAdapter(redis!.createClient(), {
        // the history store appends message:new broadcasts to this same stream
        streamName: fastify.keys.adapterStream,
        channelPrefix: `${c.REDIS_KEY_PREFIX}socket.io`,
        sessionKeyPrefix: `${c.REDIS_KEY_PREFIX}socket.io:session:`,
        maxLen: ADAPTER_STREAM_MAX_LEN,
        onlyPlaintext: true
      })
      if (c.RECOVERY_WINDOW_MS > 0) options.connectionStateRecovery = recovery
      break
  }

  await fastify.register(fastifySocketIO, options)
  // before every other Engine.IO middleware: while draining, new sessions get HTTP 503
  fastify.io.engine.use(drainAdmission(() => fastify.lifecycle.draining))
}, { name: 'socket-io', dependencies: ['config', 'lifecycle', 'redis'], fastify: '5.x' })
