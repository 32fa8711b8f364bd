/**
 * Presence (SPEC §5, §6, §8): `fastify.presence = { store, tracker, service, membership }`. The
 * PresenceStore (Redis, or in-process without Redis), the instance's tracker with its heartbeat
 * and sweeper, the service behind the REST routes and the socket events, the room membership the
 * `room:*` handlers report to, and the relay that turns the store's edges into `presence` and
 * `room:presence` events for this instance's sockets. The tracker's drain step (removing this
 * instance's entries at once) runs in the realtime plugin's drain, after the sockets are closed.
 */
import fp from 'fastify-plugin'
import type { PresenceStore } from '../src/stores/presence.js'
import { MemoryPresenceStore } from '../src/stores/memory/presence.js'
import { RedisPresenceStore } from '../src/stores/redis/presence.js'
import { createPresenceService, PresenceTracker, type PresenceService } from '../src/domain/presence.js'
import { presenceRoom, userRoom } from '../src/domain/rooms.js'
import type { RoomMembership } from '../src/realtime/handlers/rooms.js'
import type { AppNamespace } from '../src/realtime/types.js'

export interface Presence {
  store: PresenceStore
  tracker: PresenceTracker
  service: PresenceService
  membership: RoomMembership
}

declare module 'fastify' {
  interface FastifyInstance {
    presence: Presence
  }
}

/** How long start-up waits for the edge subscription before going on without it. */
const SUBSCRIBE_WAIT_MS = 2000

export default fp(async (fastify) => {
  const c = fastify.config
  const redis = fastify.redis
  const nsp = fastify.io.of('/') as AppNamespace
  const log = fastify.log.child({ component: 'presence' })

  const store: PresenceStore = redis === null
    ? new MemoryPresenceStore({ instanceId: c.instanceId, ttlMs: c.PRESENCE_TTL_MS })
    : new RedisPresenceStore({ client: redis.client, subscriber: redis.subscriber, keys: fastify.keys, instanceId: c.instanceId, ttlMs: c.PRESENCE_TTL_MS })
  const swept = fastify.appMetrics.socket.sweptConnections
  const tracker = new PresenceTracker({ store, log, startedAt: fastify.lifecycle.startedAt, onSwept: (r) => swept.inc(swept.slot(), r.connections ?? 0) })
  const service = createPresenceService({
    store,
    tracker,
    assertAccess: fastify.messages.service.assertAccess,
    // through the adapter: every instance delivers to its own sockets, nobody waits for answers
    delivery: {
      notify: (userId, notification) => { nsp.to(userRoom(userId)).emit('notification', notification) },
      disconnect: (userId) => { nsp.in(userRoom(userId)).disconnectSockets(true) }
    }
  })
  // awaited by room:join / room:leave / auth:refresh, so their ack means the registry has it
  const membership: RoomMembership = {
    joined: async (socket, roomId, deadline) => { await tracker.joined(socket.id, roomId, deadline) },
    left: async (socket, roomId, deadline) => { await tracker.left(socket.id, roomId, deadline) }
  }

  // The relay: the store publishes each edge once, in order, from the script that decided it;
  // every instance emits it to its own sockets only (`local`), so each subscriber gets it once.
  store.onPresence((state) => { nsp.local.to(presenceRoom(state.userId)).emit('presence', state) })
  store.onRoomPresence((event) => { nsp.local.to(event.roomId).emit('room:presence', event) })
  await Promise.race([store.ready(), new Promise(resolve => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref())])

  // users online across all instances (SPEC §6): one ZCOUNT of the online-users ZSET (scored by
  // expiry on Redis' clock, so counted from Redis' now: an instance whose clock is off counts alike)
  const onlineKey = fastify.keys.presence.onlineUsers
  fastify.appMetrics.sources.onlineUsers = redis === null
    ? async () => (await store.stats()).onlineUsers
    : async () => await redis.client.zcount(onlineKey, redis.now(), '+inf')

  // the instance is registered (first heartbeat) before it accepts its first connection
  fastify.addHook('onReady', async () => { await tracker.start() })
  fastify.addHook('onClose', async () => {
    await tracker.stop()
    await store.close()
  })

  fastify.decorate('presence', { store, tracker, service, membership })
}, { name: 'presence', dependencies: ['config', 'lifecycle', 'redis', 'metrics', 'messages', 'socket-io'], fastify: '5.x' })
