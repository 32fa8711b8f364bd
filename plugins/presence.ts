/**
 * Presence (SPEC §5, §6, §8): the PresenceStore (Redis, or in-process without Redis), the
 * instance's tracker with its heartbeat and sweeper, the service behind the REST routes and the
 * socket events, and the relay that turns the store's edges into `presence` and `room:presence`
 * events for this instance's sockets. Registers the `presence:*` handlers on `/`, the `/admin`
 * handlers, the room hooks, and a drain step that removes this instance's entries at once.
 */
import fp from 'fastify-plugin'
import type { PresenceStore } from '../src/stores/presence.js'
import { MemoryPresenceStore } from '../src/stores/memory/presence.js'
import { RedisPresenceStore } from '../src/stores/redis/presence.js'
import { createPresenceService, PresenceTracker, type PresenceService } from '../src/domain/presence.js'
import { presenceRoom, userRoom } from '../src/domain/rooms.js'
import { presenceHandlers, PRESENCE_EVENTS } from '../src/realtime/namespaces/presence.js'
import { adminHandlers } from '../src/realtime/namespaces/admin.js'

export interface Presence {
  store: PresenceStore
  tracker: PresenceTracker
  service: PresenceService
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
  const realtime = fastify.realtime
  const { nsp } = realtime
  const log = fastify.log.child({ component: 'presence' })

  const store: PresenceStore = redis === null
    ? new MemoryPresenceStore({ instanceId: c.instanceId, ttlMs: c.PRESENCE_TTL_MS })
    : new RedisPresenceStore({ client: redis.client, subscriber: redis.subscriber, keys: fastify.stores.keys, instanceId: c.instanceId, ttlMs: c.PRESENCE_TTL_MS })
  const swept = fastify.appMetrics.socket.sweptConnections
  const tracker = new PresenceTracker({ store, log, startedAt: fastify.lifecycle.startedAt, onSwept: (r) => swept.inc(swept.slot(), r.connections ?? 0) })
  const service = createPresenceService({
    store,
    tracker,
    assertAccess: (principal, roomId) => fastify.services.messages.assertAccess(principal, roomId),
    // through the adapter: every instance delivers to its own sockets, nobody waits for answers
    delivery: {
      notify: (userId, notification) => { nsp.to(userRoom(userId)).emit('notification', notification) },
      disconnect: (userId) => { nsp.in(userRoom(userId)).disconnectSockets(true) }
    }
  })

  // The relay: the store publishes each edge once, in order, from the script that decided it;
  // every instance emits it to its own sockets only (`local`), so each subscriber gets it once.
  store.onPresence((state) => { nsp.local.to(presenceRoom(state.userId)).emit('presence', state) })
  store.onRoomPresence((event) => { nsp.local.to(event.roomId).emit('room:presence', event) })
  await Promise.race([store.ready(), new Promise(resolve => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref())])

  // room membership, composed with whatever other features hook there
  const hooks = realtime.hooks
  const { joined, left } = hooks
  hooks.joined = async (socket, roomId) => {
    await joined?.(socket, roomId)
    await tracker.joined(socket.id, roomId)
  }
  hooks.left = async (socket, roomId) => {
    await left?.(socket, roomId)
    await tracker.left(socket.id, roomId)
  }

  for (const e of PRESENCE_EVENTS) realtime.knownEvents.add(e)
  realtime.extensions.push(presenceHandlers({ define: realtime.define, service, tracker }))
  realtime.adminExtensions.push(adminHandlers({ define: realtime.define, service, log }))

  // graceful drain: the sockets are closed by now; whatever is left of this instance goes at once
  realtime.onDrained.push(async () => { await tracker.stop() })

  // the instance is registered (first heartbeat) before it accepts its first connection
  fastify.addHook('onReady', async () => { await tracker.start() })
  fastify.addHook('onClose', async () => {
    await tracker.stop()
    await store.close()
  })

  fastify.decorate('presence', { store, tracker, service })
}, { name: 'presence', dependencies: ['config', 'lifecycle', 'redis', 'stores', 'metrics', 'services', 'realtime'], fastify: '5.x' })
