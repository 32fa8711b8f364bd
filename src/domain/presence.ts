/**
 * The presence service (SPEC §5, §6, §8): the one function behind each presence REST route and
 * its socket event — state queries, room presence, notifications, disconnecting a user, cluster
 * stats. Every answer comes from the store, never from asking the other instances. This
 * instance's own connections are kept by the tracker (presence-tracker.ts).
 */
import { appError } from '../errors.js'
import type { Principal } from './principal.js'
import type { ClusterStats, InstanceStats, PresenceState, PresenceStore, RoomMember } from '../stores/presence.js'
import type { PresenceTracker } from './presence-tracker.js'
import type { Deadline } from '../deadline.js'

export { PresenceTracker, type PresenceTrackerOptions } from './presence-tracker.js'

/** presence:subscribe: ids a socket may follow in total (SPEC §5). */
export const MAX_PRESENCE_SUBSCRIPTIONS = 500
/** POST /v1/presence/query: ids per request (SPEC §6). */
export const MAX_PRESENCE_QUERY = 1000
export interface Notification { type: string, data: unknown, at: number }

/** How the service reaches sockets: through the Socket.IO adapter, never waiting on other instances. */
export interface PresenceDelivery {
  /** emits `notification` to the user's `user:` room on every instance */
  notify: (userId: string, notification: Notification) => void
  /** disconnects every socket of the user on every instance */
  disconnect: (userId: string) => void
}

export interface StatsAnswer {
  instances: InstanceStats[]
  totals: { connections: number, onlineUsers: number }
}

/** Every call takes the request's `deadline` last (src/deadline.ts, SPEC §8): its store calls share it. */
export interface PresenceService {
  get: (userId: string, deadline?: Deadline) => Promise<PresenceState>
  /** one state per id, in request order */
  query: (userIds: readonly string[], deadline?: Deadline) => Promise<PresenceState[]>
  /** users with a socket in the room on any instance; same access rule as room:join */
  roomPresence: (principal: Principal, roomId: string, deadline?: Deadline) => Promise<{ roomId: string, users: RoomMember[] }>
  notify: (userId: string, input: { type: string, data?: unknown }, deadline?: Deadline) => Promise<{ delivered: number }>
  disconnectUser: (userId: string, deadline?: Deadline) => Promise<{ disconnected: number }>
  stats: (deadline?: Deadline) => Promise<StatsAnswer>
}

export interface PresenceServiceOptions {
  store: PresenceStore
  tracker: PresenceTracker
  /** the room rule of room:join (MessageService.assertAccess) */
  assertAccess: (principal: Principal, roomId: string) => void
  delivery: PresenceDelivery
}

export function createPresenceService (opts: PresenceServiceOptions): PresenceService {
  const { store, tracker, assertAccess, delivery } = opts

  return {
    async get (userId, deadline) {
      return await store.get(userId, deadline)
    },

    async query (userIds, deadline) {
      if (userIds.length > MAX_PRESENCE_QUERY) {
        throw appError('invalid_payload', `at most ${MAX_PRESENCE_QUERY} user ids per query`, { details: [{ path: '/userIds', message: `must NOT have more than ${MAX_PRESENCE_QUERY} items` }] })
      }
      return await store.query(userIds, deadline)
    },

    async roomPresence (principal, roomId, deadline) {
      assertAccess(principal, roomId)
      return { roomId, users: await store.roomMembers(roomId, deadline) }
    },

    async notify (userId, input, deadline) {
      const { connections } = await store.get(userId, deadline)
      delivery.notify(userId, { type: input.type, data: input.data ?? null, at: Date.now() })
      return { delivered: connections }
    },

    async disconnectUser (userId, deadline) {
      const { connections } = await store.get(userId, deadline)
      delivery.disconnect(userId)
      return { disconnected: connections }
    },

    async stats (deadline) {
      const cluster: ClusterStats = await store.stats(deadline)
      // this instance answers with its numbers as they are now, and is listed even when its
      // own heartbeat is failing (it is evidently alive)
      const own = tracker.stats()
      const instances = cluster.instances.filter(i => i.id !== own.id)
      instances.push(own)
      instances.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
      let connections = 0
      for (const i of instances) connections += i.connections
      return { instances, totals: { connections, onlineUsers: cluster.onlineUsers } }
    }
  }
}
