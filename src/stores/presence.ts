/**
 * PresenceStore: the per-connection registry behind presence, room presence and admin stats
 * (SPEC §5, §6, §8), in Centrifugo's sense of a presence engine. One store object speaks for one
 * instance (`instanceId`); every connection it registers is an entry `<instanceId>|<socketId>`
 * with an expiry, kept alive by that instance's heartbeat.
 *
 * - A user is online while any of their entries is live. Each change decides the user's
 *   online / offline edge atomically and publishes it in the same step, so edges of one user
 *   strictly alternate and reach every instance in the order they happened.
 * - Room membership is kept per connection too; a user's first connection in a room is a
 *   `joined` edge, the last one out a `left` edge.
 * - An instance that dies without cleanup stops refreshing its entries; a surviving instance's
 *   `sweep` claims it (one sweeper per dead instance) and removes its entries, emitting the
 *   offline / left edges.
 *
 * Implemented in memory (one instance: nothing expires, nothing to sweep) and on Redis (any number
 * of instances); both pass test/stores/presence.contract.ts, Redis also presence.instances.ts.
 */
import type { PresenceState } from '../schemas/common.js'
import type { Deadline } from '../deadline.js'

export type { PresenceState }

export interface RoomPresenceEvent {
  roomId: string
  userId: string
  status: 'joined' | 'left'
}

export interface RoomMember {
  userId: string
  /** that user's live connections in the room, over all instances */
  connections: number
}

/** What each instance reports about itself (SPEC §5 `stats:get`). */
export interface InstanceStats {
  id: string
  connections: number
  rooms: number
  uptimeS: number
  rssBytes: number
}

export interface ClusterStats {
  /** live instances (their last heartbeat is younger than the TTL), ordered by id */
  instances: InstanceStats[]
  /** users some live instance reports online */
  onlineUsers: number
}

/** The effect of one registry change on its user. */
export interface PresenceChange {
  /** the online / offline edge this change caused, or null */
  edge: PresenceState | null
  /** the user's live connections after the change */
  connections: number
}

/** The effect of one room change: the joined / left edge it caused, or null. */
export interface RoomChange {
  edge: RoomPresenceEvent | null
}

/** One heartbeat of an instance: everything is re-asserted, so a failed step heals here. */
export interface HeartbeatInput {
  stats: InstanceStats
  /**
   * Users whose entries of this instance are rewritten: `[userId, socketIds]`, the complete set
   * of this instance's connections of that user (possibly empty: its stale entries are removed).
   */
  users: Array<[userId: string, socketIds: string[]]>
  /** Rooms whose memberships of this instance are rewritten: `[roomId, [[socketId, userId]…]]`. */
  rooms: Array<[roomId: string, members: Array<[socketId: string, userId: string]>]>
  /** users and rooms this instance holds entries for: replaces its crash index */
  index: { users: string[], rooms: string[] }
  /** users with a connection on this instance (kept in the online-users count) */
  online: string[]
}

export interface HeartbeatResult {
  /**
   * true when this instance had no live entry before this beat: its first beat, or it was
   * presumed dead (stalled past the TTL) and may have been swept; then it must rewrite its rooms.
   */
  wasGone: boolean
}

export interface SweepResult {
  /** dead instances this call swept */
  instances: string[]
  /** connection entries of dead instances removed (SPEC §6 switchboard_presence_swept_connections_total); stores that cannot tell leave it out */
  connections?: number
  /** offline and left edges emitted */
  edges: number
}

export type PresenceListener = (state: PresenceState) => void
export type RoomPresenceListener = (event: RoomPresenceEvent) => void

export interface PresenceStore {
  readonly instanceId: string
  /** an entry not refreshed for this long counts as gone */
  readonly ttlMs: number

  /** Registers a connection of this instance. */
  connect: (userId: string, socketId: string) => Promise<PresenceChange>
  /** Removes a connection of this instance. */
  disconnect: (userId: string, socketId: string) => Promise<PresenceChange>
  /** `deadline` (the room:join event's, src/deadline.ts; also of the reads below): SPEC §8 */
  joinRoom: (roomId: string, userId: string, socketId: string, deadline?: Deadline) => Promise<RoomChange>
  leaveRoom: (roomId: string, userId: string, socketId: string, deadline?: Deadline) => Promise<RoomChange>

  /** Refreshes this instance and the entries named in `input` (pipelined; one call per beat). */
  heartbeat: (input: HeartbeatInput) => Promise<HeartbeatResult>
  /** Removes the entries of instances whose heartbeat stopped (other than this one). */
  sweep: () => Promise<SweepResult>
  /** Graceful shutdown: removes every entry of this instance at once, emitting the edges. */
  removeInstance: () => Promise<void>

  get: (userId: string, deadline?: Deadline) => Promise<PresenceState>
  /** One state per id, in request order, in one round trip. */
  query: (userIds: readonly string[], deadline?: Deadline) => Promise<PresenceState[]>
  /** Users with a live connection in the room, ordered by user id. */
  roomMembers: (roomId: string, deadline?: Deadline) => Promise<RoomMember[]>
  stats: (deadline?: Deadline) => Promise<ClusterStats>

  /** Every user edge, from every instance, in the order they happened per user. */
  onPresence: (listener: PresenceListener) => void
  /** Every room edge, from every instance, in the order they happened per room and user. */
  onRoomPresence: (listener: RoomPresenceListener) => void
  /** Resolves once edges are being received (the subscription is active or has failed and will retry). */
  ready: () => Promise<void>
  close: () => Promise<void>
}

/** Separates the instance id from the socket id in an entry; instance ids cannot hold it. */
export const ENTRY_SEPARATOR = '|'

export function entryId (instanceId: string, socketId: string): string {
  return instanceId + ENTRY_SEPARATOR + socketId
}

export function offlineState (userId: string, lastSeenAt: number | null = null): PresenceState {
  return { userId, status: 'offline', connections: 0, lastSeenAt }
}

/**
 * lastSeenAt (SPEC §5 `PresenceState`): for an online user, now (they are being seen); for an
 * offline user, when their last connection went away; null for a user never seen.
 */
export function presenceState (userId: string, connections: number, now: number, seen: number | null): PresenceState {
  return connections > 0
    ? { userId, status: 'online', connections, lastSeenAt: now }
    : offlineState(userId, seen)
}
