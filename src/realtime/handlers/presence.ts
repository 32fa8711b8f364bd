/**
 * Presence on namespace `/` (SPEC §5): every socket is registered with the tracker for as long as
 * it is connected, and may follow users with `presence:subscribe` / `presence:unsubscribe`.
 * Following a user is joining the internal room `~presence:<userId>`: the relay emits each
 * `presence` edge there, on every instance, so a subscriber gets it exactly once wherever it is.
 */
import { appError } from '../../errors.js'
import { MAX_PRESENCE_SUBSCRIPTIONS, type PresenceService, type PresenceTracker } from '../../domain/presence.js'
import { isReservedRoom, PRESENCE_ROOM_PREFIX, presenceRoom } from '../../domain/rooms.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import { listen, type Define } from '../wrap.js'
import type { AppSocket } from '../types.js'

const check = {
  subscribe: compileValidator(S.PresenceSubscribe),
  unsubscribe: compileValidator(S.PresenceUnsubscribe)
}

export interface PresenceHandlerDeps {
  define: Define
  service: PresenceService
  tracker: PresenceTracker
}

/** Users a socket follows: its internal presence rooms. */
export function presenceSubscriptions (socket: AppSocket): number {
  let n = 0
  for (const r of socket.rooms) if (r.startsWith(PRESENCE_ROOM_PREFIX)) n++
  return n
}

export function createPresenceHandlers (deps: PresenceHandlerDeps) {
  const { define, service, tracker } = deps

  function onDisconnect (this: AppSocket): void {
    tracker.disconnected(this.id).catch(() => {})
  }

  return {
    /** Registers a new socket (and the rooms a recovered one brings back) with the tracker. */
    track (socket: AppSocket): void {
      // a socket refused earlier in the connection handler (expired token, draining) never counts
      if (!socket.connected) return
      const sid = socket.id
      tracker.connected(sid, socket.data.principal.sub).catch(() => {})
      // rooms restored by connection state recovery did not go through room:join
      if (socket.recovered) {
        for (const room of socket.rooms) if (room !== sid && !isReservedRoom(room)) tracker.joined(sid, room).catch(() => {})
      }
      listen(socket, 'disconnect', onDisconnect)
    },

    subscribe: define('presence:subscribe', check.subscribe, async (socket, { userIds }, deadline) => {
      let fresh = 0
      const rooms: string[] = []
      for (const userId of new Set(userIds)) {
        const room = presenceRoom(userId)
        if (!socket.rooms.has(room)) fresh++
        rooms.push(room)
      }
      const total = presenceSubscriptions(socket) + fresh
      if (total > MAX_PRESENCE_SUBSCRIPTIONS) {
        // all or nothing, like the rooms limit of room:join
        throw appError('forbidden', `a socket may follow at most ${MAX_PRESENCE_SUBSCRIPTIONS} users; this would make ${total}`)
      }
      // follow before reading: an edge in between arrives as an event instead of being lost
      await socket.join(rooms)
      return { users: await service.query(userIds, deadline) }
    }),

    unsubscribe: define('presence:unsubscribe', check.unsubscribe, async (socket, { userIds }) => {
      for (const userId of new Set(userIds)) await socket.leave(presenceRoom(userId))
      return undefined
    })
  }
}
