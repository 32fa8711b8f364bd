/**
 * Room rules (SPEC §3): which principal may use which room. Used by `room:join`, history reads,
 * REST publishing and room presence alike, so the rule is written once.
 */
import { appError } from '../errors.js'
import type { Principal } from './principal.js'

export type RoomAccess = 'open' | 'claims'

const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/

export function isValidRoomId (roomId: unknown): roomId is string {
  return typeof roomId === 'string' && ROOM_ID.test(roomId)
}

/**
 * Internal rooms of presence subscriptions (`presence:subscribe`). `~` cannot appear in a room
 * id, so no client room can collide with one, and clients can neither join nor address them.
 */
export const PRESENCE_ROOM_PREFIX = '~presence:'

/**
 * `user:` and `system:` rooms belong to the server: no socket joins them. Internal presence
 * rooms count as reserved too, so they never count toward MAX_ROOMS_PER_SOCKET.
 */
export function isReservedRoom (roomId: string): boolean {
  return roomId.startsWith('user:') || roomId.startsWith('system:') || roomId.startsWith(PRESENCE_ROOM_PREFIX)
}

export function userRoom (userId: string): string {
  return `user:${userId}`
}

/** The room whose sockets follow a user's presence. */
export function presenceRoom (userId: string): string {
  return PRESENCE_ROOM_PREFIX + userId
}

/** Exact ids, or a prefix ending in `*` (`team-42:*`; a lone `*` matches every room). */
export function matchesRoomPattern (patterns: readonly string[], roomId: string): boolean {
  for (const p of patterns) {
    if (p.endsWith('*') ? roomId.startsWith(p.slice(0, -1)) : p === roomId) return true
  }
  return false
}

/**
 * Throws `forbidden` unless the principal may use the room. A `rooms` claim, when present,
 * limits every principal (a deliberately narrowed service token stays narrow); otherwise
 * `service` and `admin` may use every non-reserved room, and users follow ROOM_ACCESS.
 */
export function assertRoomAccess (principal: Principal, roomId: string, access: RoomAccess): void {
  if (isReservedRoom(roomId)) throw appError('forbidden', `room ${roomId} is reserved`)
  if (principal.rooms !== undefined) {
    if (matchesRoomPattern(principal.rooms, roomId)) return
    throw appError('forbidden', `token does not allow room ${roomId}`)
  }
  if (principal.role === 'service' || principal.role === 'admin') return
  if (access === 'open') return
  throw appError('forbidden', `token does not allow room ${roomId}`)
}
