/**
 * Socket.IO (`fastify.io`) on the same HTTP server as the REST API, with the adapter chosen by
 * ADAPTER on the shared Redis connections; closed in `onClose` (the realtime plugin drains the
 * sockets before, in a preClose hook). The first Engine.IO middleware refuses new sessions while
 * the instance drains (admission.ts).
 *
 * This is what fastify-socket.io does (decorate, close), written here: its published package
 * runs `npx only-allow pnpm` as a preinstall script, so every npm project that depends on this
 * one (for `switchboard/client`) failed to install; `allowScripts` only helps the root project.
 */
import fp from 'fastify-plugin'
import { Server, type ServerOptions } from 'socket.io'
import { createAdapter as createRedisAdapter, createShardedAdapter } from '@socket.io/redis-adapter'
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter'
import type { AppServer } from '../src/realtime/types.js'
import { drainAdmission } from '../src/realtime/admission.js'
import { ADAPTER_STREAM_MAX_LEN } from '../src/stores/redis/history.js'

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
  const options: Partial<ServerOptions> = {
    transports: c.transports,
    cors: { origin: c.corsOrigins === '*' ? '*' : c.corsOrigins, methods: ['GET', 'POST'] },
    maxHttpBufferSize: c.MAX_FRAME_BYTES,
    // permessage-deflate costs ~230 KB per connection on Socket.IO 4.8; chat payloads are small
    perMessageDeflate: false,
    serveClient: false,
    // an Engine.IO session that never sends its namespace CONNECT is closed after this (default 45 s)
    connectTimeout: 10_000,
    cleanupEmptyChildNamespaces: true
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

  const io: AppServer = new Server(fastify.server, options)
  fastify.decorate('io', io)
  // not awaited (as fastify-socket.io did): it closes the sockets and adapters at once, and its
  // wait for the HTTP server, which Fastify has closed already, must not hold up Redis' close
  fastify.addHook('onClose', (_instance, done) => { io.close().catch(() => {}); done() })
  // before every other Engine.IO middleware: while draining, new sessions get HTTP 503
  fastify.io.engine.use(drainAdmission(() => fastify.lifecycle.draining))
}, { name: 'socket-io', dependencies: ['config', 'lifecycle', 'redis'], fastify: '5.x' })
