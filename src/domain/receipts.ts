/**
 * The receipt service: the one place read receipts are written and read, behind the socket
 * event `receipt:read` and `GET /v1/rooms/:roomId/receipts`. A receipt that moves forward is
 * broadcast as `receipt` to the room (the plugin passes a broadcast through the Socket.IO
 * adapter, so every instance's members get it); a stale one changes nothing and is not
 * broadcast; one for a message that is not in the room's history is refused with `not_found`.
 */
import { appError } from '../errors.js'
import { canonicalId } from '../model/message-id.js'
import type { ReceiptStore } from '../stores/receipts.js'
import type { Principal } from './principal.js'
import { assertRoomAccess, type RoomAccess } from './rooms.js'
import type { Deadline } from '../deadline.js'

export interface Receipt { roomId: string, userId: string, messageId: string }

export interface ReceiptServiceOptions {
  store: ReceiptStore
  roomAccess: RoomAccess
  /** called once for each receipt that moved forward */
  broadcast: (receipt: Receipt) => void
}

export interface ReceiptService {
  /**
   * Moves the principal's receipt forward; `advanced` is false when it was already there or past
   * it. `deadline` (both calls): the request's (src/deadline.ts, SPEC §8).
   */
  read: (principal: Principal, roomId: string, messageId: string, deadline?: Deadline) => Promise<{ advanced: boolean }>
  list: (principal: Principal, roomId: string, deadline?: Deadline) => Promise<{ roomId: string, receipts: Record<string, string> }>
}

export function createReceiptService (opts: ReceiptServiceOptions): ReceiptService {
  const { store, roomAccess, broadcast } = opts

  return {
    async read (principal, roomId, messageId, deadline) {
      assertRoomAccess(principal, roomId, roomAccess)
      // one spelling per message, so receipts compare and display the way history does
      const id = canonicalId(messageId)
      const result = await store.mark(roomId, principal.sub, id, deadline)
      if (result === 'not_found') throw appError('not_found', `message ${id} is not in the history of room ${roomId}`)
      if (result === 'advanced') broadcast({ roomId, userId: principal.sub, messageId: id })
      return { advanced: result === 'advanced' }
    },

    async list (principal, roomId, deadline) {
      assertRoomAccess(principal, roomId, roomAccess)
      return { roomId, receipts: await store.list(roomId, deadline) }
    }
  }
}
