/**
 * Room authorization for room-scoped socket events (SPEC §3, §8): derived from the principal,
 * never from Socket.IO's bookkeeping alone. An event for a room needs both the room rule REST
 * uses (`assertRoomAccess`, for the socket's current principal) and membership of a client
 * room: a valid, non-reserved room id the socket joined. A socket's own id room and internal
 * rooms are never client rooms.
 */
import { appError } from '../errors.js'
import type { Principal } from '../domain/principal.js'
import { isReservedRoom, isValidRoomId } from '../domain/rooms.js'
import type { AppSocket } from './types.js'

export type AssertAccess = (principal: Principal, roomId: string) => void

/** A room a client may name: a valid room id that is not reserved and not the socket's own. */
export function isClientRoom (socket: AppSocket, roomId: string): boolean {
  return roomId !== socket.id && isValidRoomId(roomId) && !isReservedRoom(roomId)
}

/** The client rooms a socket is in. */
export function clientRooms (socket: AppSocket): string[] {
  const out: string[] = []
  for (const r of socket.rooms) if (isClientRoom(socket, r)) out.push(r)
  return out
}

/**
 * Throws `forbidden` when the principal may not use the room, `not_in_room` when the socket
 * has not joined it as a client room. `doing` completes "join <room> before …".
 */
export function assertMember (socket: AppSocket, roomId: string, assertAccess: AssertAccess, doing: string): void {
  assertAccess(socket.data.principal, roomId)
  if (!isClientRoom(socket, roomId) || !socket.rooms.has(roomId)) {
    throw appError('not_in_room', `join ${roomId} before ${doing}`)
  }
}

/** The client rooms the socket's current principal may no longer use. */
export function disallowedRooms (socket: AppSocket, assertAccess: AssertAccess): string[] {
  const out: string[] = []
  for (const room of clientRooms(socket)) {
    try {
      assertAccess(socket.data.principal, room)
    } catch {
      out.push(room)
    }
  }
  return out
}
