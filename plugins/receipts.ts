/**
 * Read receipts (SPEC §5 `receipt:read` / `receipt`, §6 `GET /v1/rooms/:roomId/receipts`):
 * `fastify.receipts = { store, service }`. The ReceiptStore (Redis when configured, in-process
 * otherwise) and the receipt service; the `receipt` broadcast goes through the Socket.IO
 * adapter, so members on every instance get it.
 */
import fp from 'fastify-plugin'
import { createReceiptService, type ReceiptService } from '../src/domain/receipts.js'
import type { AppNamespace } from '../src/realtime/types.js'
import type { ReceiptStore } from '../src/stores/receipts.js'
import { MemoryReceiptStore } from '../src/stores/memory/receipts.js'
import { RedisReceiptStore } from '../src/stores/redis/receipts.js'

export interface Receipts {
  store: ReceiptStore
  service: ReceiptService
}

declare module 'fastify' {
  interface FastifyInstance {
    receipts: Receipts
  }
}

export default fp(async (fastify) => {
  const redis = fastify.redis
  const nsp = fastify.io.of('/') as AppNamespace
  const store: ReceiptStore = redis === null
    ? new MemoryReceiptStore({ history: fastify.messages.store })
    // a mark that Redis runs after its request's deadline writes nothing (unavailable = not written)
    : new RedisReceiptStore({ client: redis.client, keys: fastify.keys, writeDeadline: redis.redisDeadline })
  const service = createReceiptService({
    store,
    roomAccess: fastify.config.ROOM_ACCESS,
    broadcast: (r) => { nsp.to(r.roomId).emit('receipt', r) }
  })
  fastify.decorate('receipts', { store, service })
  fastify.addHook('onClose', async () => { await store.close() })
}, { name: 'receipts', dependencies: ['config', 'redis', 'messages', 'socket-io'], fastify: '5.x' })
