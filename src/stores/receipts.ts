/**
 * ReceiptStore: each user's last-read message per room (SPEC §5 `receipt:read`, §6
 * `GET /v1/rooms/:roomId/receipts`). A receipt only ever moves forward, and only to a message
 * that is in the room's history; the check and the move are one atomic step, so concurrent
 * receipts from several tabs or instances can never move it back. Implemented in memory and on
 * Redis; both pass test/stores/receipts.contract.ts.
 */

/**
 * `advanced`: stored, it moved forward. `unchanged`: the stored receipt is already at or past
 * it (nothing written). `not_found`: the message is not in the room's history.
 */
import type { Deadline } from '../deadline.js'

export type MarkResult = 'advanced' | 'unchanged' | 'not_found'

export interface ReceiptStore {
  /**
   * Moves `userId`'s receipt in `roomId` forward to `messageId` (a canonical id). `deadline`
   * (both methods): the request's (src/deadline.ts, SPEC §8).
   */
  mark: (roomId: string, userId: string, messageId: string, deadline?: Deadline) => Promise<MarkResult>
  /** Every user's receipt in the room: userId → messageId. */
  list: (roomId: string, deadline?: Deadline) => Promise<Record<string, string>>
  close: () => Promise<void>
}
