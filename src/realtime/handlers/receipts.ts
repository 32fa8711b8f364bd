/**
 * `receipt:read` (SPEC §5): a member of a room, still allowed in it, reports reading up to a
 * message; the receipt service broadcasts `receipt` when it moved forward.
 */
import type { ReceiptService } from '../../domain/receipts.js'
import { ReceiptRead } from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import { assertMember, type AssertAccess } from '../membership.js'
import type { Define } from '../wrap.js'

const checkRead = compileValidator(ReceiptRead)

export interface ReceiptHandlerDeps {
  define: Define
  receipts: ReceiptService
  assertAccess: AssertAccess
}

export function createReceiptHandlers (deps: ReceiptHandlerDeps) {
  const { define, receipts, assertAccess } = deps
  return {
    read: define('receipt:read', checkRead, async (socket, { roomId, messageId }, deadline) => {
      // like message:send: only a member of the room, still allowed in it, reports reading it
      assertMember(socket, roomId, assertAccess, 'sending receipts for it')
      await receipts.read(socket.data.principal, roomId, messageId, deadline)
      return undefined
    })
  }
}
