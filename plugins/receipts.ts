/**
 * Read receipts (SPEC §5 `receipt:read` / `receipt`, §6 `GET /v1/rooms/:roomId/receipts`): the
 * ReceiptStore (Redis when configured, in-process otherwise), the receipt service, and the
 * socket event, registered on the `/` namespace through the realtime extensions. The `receipt`
 * broadcast goes through the Socket.IO adapter, so members on every instance get it.
 */
import fp from 'fastify-plugin'
import { listen } from '../src/realtime/handle.js'
import { createReceiptService, type ReceiptService } from '../src/domain/receipts.js'
import { assertMember } from '../src/realtime/membership.js'
import { ReceiptRead } from '../src/schemas/socket.js'
import { compileValidator } from '../src/schemas/validate.js'
import type { ReceiptStore } from '../src/stores/receipts.js'
import { MemoryReceiptStore } from '../src/stores/memory/receipts.js'
import { RedisReceiptStore } from '../src/stores/redis/receipts.js'

declare module 'fastify' {
  interface FastifyInstance {
    receipts: ReceiptService
  }
}

const checkRead = compileValidator(ReceiptRead)

export default fp(async (fastify) => {
  const redis = fastify.redis
  const store: ReceiptStore = redis === null
    ? new MemoryReceiptStore({ history: fastify.stores.history })
    : new RedisReceiptStore({ client: redis.client, keys: fastify.stores.keys })
  const realtime = fastify.realtime
  const receipts = createReceiptService({
    store,
    roomAccess: fastify.config.ROOM_ACCESS,
    broadcast: (r) => { realtime.nsp.to(r.roomId).emit('receipt', r) }
  })
  fastify.decorate('receipts', receipts)

  realtime.knownEvents.add('receipt:read')
  const onRead = realtime.define('receipt:read', checkRead, async (socket, { roomId, messageId }) => {
    // like message:send: only a member of the room, still allowed in it, reports reading it
    assertMember(socket, roomId, fastify.services.messages.assertAccess, 'sending receipts for it')
    await receipts.read(socket.data.principal, roomId, messageId)
    return undefined
  })
  realtime.extensions.push((socket) => { listen(socket, 'receipt:read', onRead) })

  fastify.addHook('onClose', async () => {
    await store.close()
  })
}, { name: 'receipts', dependencies: ['config', 'redis', 'stores', 'services', 'realtime'], fastify: '5.x' })
