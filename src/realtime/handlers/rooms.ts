/**
 * `room:join` / `room:leave` (SPEC §5): membership of client rooms, capped at
 * MAX_ROOMS_PER_SOCKET, checked against the principal's room rule. A join with `since` also
 * returns what the socket missed. Features that follow membership (presence) are told through
 * `membership`, awaited, so the ack means the registry has it.
 */
import { appError } from '../../errors.js'
import type { MessageService } from '../../domain/messages.js'
import { isReservedRoom } from '../../domain/rooms.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import type { Define } from '../wrap.js'
import type { AppSocket } from '../types.js'

const check = {
  join: compileValidator(S.RoomJoin),
  leave: compileValidator(S.RoomLeave)
}

/** Told of every room a socket enters or leaves on its own (presence's tracker), with the event's deadline (src/deadline.ts). */
export interface RoomMembership {
  joined: (socket: AppSocket, roomId: string, deadline: number) => Promise<void>
  left: (socket: AppSocket, roomId: string, deadline: number) => Promise<void>
}

export interface RoomHandlerDeps {
  define: Define
  messages: MessageService
  membership: RoomMembership
  maxRoomsPerSocket: number
  /** a `room:join` with `since` was answered; whether every missed message could be given (SPEC §6 switchboard_catchups_total) */
  onCatchUp: (recovered: boolean) => void
  /** settles once this instance receives the room's messages (relay.ts Relay.roomLive) */
  roomLive: (roomId: string) => Promise<void>
}

/** Rooms a socket has joined on its own: not its id room, not its `user:` room. */
export function joinedRooms (socket: AppSocket): number {
  let n = 0
  for (const r of socket.rooms) if (r !== socket.id && !isReservedRoom(r)) n++
  return n
}

export function createRoomHandlers (deps: RoomHandlerDeps) {
  const { define, messages, membership, maxRoomsPerSocket, onCatchUp, roomLive } = deps
  return {
    join: define('room:join', check.join, async (socket, { roomId, since }, deadline) => {
      const p = socket.data.principal
      messages.assertAccess(p, roomId)
      if (!socket.rooms.has(roomId)) {
        if (joinedRooms(socket) >= maxRoomsPerSocket) {
          throw appError('forbidden', `a socket may join at most ${maxRoomsPerSocket} rooms`)
        }
        // join before reading history: a message sent meanwhile arrives twice (deduplicate by
        // id) rather than never
        await socket.join(roomId)
        // on a Cluster this instance subscribes to the room's messages on its first member:
        // live before the answer and the history read, so no message falls in between
        await roomLive(roomId)
        await membership.joined(socket, roomId, deadline)
      }
      if (since === undefined) return { roomId }
      const r = await messages.catchUp(p, roomId, since, deadline)
      onCatchUp(r.recovered)
      return { roomId, missed: r.missed, hasMore: r.hasMore, recovered: r.recovered }
    }),

    leave: define('room:leave', check.leave, async (socket, { roomId }, deadline) => {
      if (isReservedRoom(roomId)) throw appError('forbidden', `room ${roomId} is reserved`)
      if (socket.rooms.has(roomId)) {
        await socket.leave(roomId)
        await membership.left(socket, roomId, deadline)
      }
      return undefined
    })
  }
}
