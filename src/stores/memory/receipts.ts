/**
 * In-process ReceiptStore for the single-instance mode. The history check is asynchronous, the
 * compare-and-set after it is synchronous, so two receipts racing each other still cannot move
 * a receipt back.
 */
import { compareIds } from '../../model/message-id.js'
import type { HistoryStore } from '../history.js'
import type { MarkResult, ReceiptStore } from '../receipts.js'

export interface MemoryReceiptOptions {
  /** the room histories receipts must point into */
  history: Pick<HistoryStore, 'has'>
}

export class MemoryReceiptStore implements ReceiptStore {
  readonly #rooms = new Map<string, Map<string, string>>()
  readonly #history: Pick<HistoryStore, 'has'>

  constructor (opts: MemoryReceiptOptions) {
    this.#history = opts.history
  }

  async mark (roomId: string, userId: string, messageId: string): Promise<MarkResult> {
    if (!await this.#history.has(roomId, messageId)) return 'not_found'
    let room = this.#rooms.get(roomId)
    const current = room?.get(userId)
    if (current !== undefined && compareIds(messageId, current) <= 0) return 'unchanged'
    if (room === undefined) this.#rooms.set(roomId, (room = new Map()))
    room.set(userId, messageId)
    return 'advanced'
  }

  async list (roomId: string): Promise<Record<string, string>> {
    return Object.fromEntries(this.#rooms.get(roomId) ?? [])
  }

  async close (): Promise<void> {}
}
