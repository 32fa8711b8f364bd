/**
 * ReceiptStore on Redis: one hash per room (userId → last-read id), next to the room's history
 * stream under the same hash tag, so one Lua script can check that the message is in history
 * and compare-and-set the receipt atomically (lua/receipts.ts).
 */
import type { Redis, Cluster } from 'ioredis'
import type { Keys } from '../keys.js'
import type { MarkResult, ReceiptStore } from '../receipts.js'
import { storeError } from './errors.js'
import { appError } from '../../errors.js'
import { atDeadline } from './gate.js'
import type { Deadline } from '../../deadline.js'
import { MARK } from './lua/receipts.js'
import { defineScripts } from './lua/script.js'

export interface RedisReceiptOptions {
  client: Redis | Cluster
  keys: Keys
  /**
   * The deadline of a mark issued now for a request due at `deadline` (src/deadline.ts), on
   * Redis' clock (epoch ms; 0 for none): a mark that Redis runs later writes nothing, so an
   * `unavailable` answer always means "not written" (as for the history append)
   */
  writeDeadline?: (deadline: Deadline) => number
}

export class RedisReceiptStore implements ReceiptStore {
  readonly #client: Redis | Cluster
  readonly #keys: Keys
  readonly #writeDeadline: (deadline: Deadline) => number

  constructor (opts: RedisReceiptOptions) {
    this.#client = opts.client
    this.#keys = opts.keys
    this.#writeDeadline = opts.writeDeadline ?? (() => 0)
    defineScripts(this.#client, [MARK])
  }

  async mark (roomId: string, userId: string, messageId: string, deadline?: Deadline): Promise<MarkResult> {
    let reply
    try {
      const late = String(Math.max(0, this.#writeDeadline(deadline)))
      reply = await atDeadline(this.#client, deadline).sbReceiptMark(this.#keys.roomReceipts(roomId), this.#keys.roomHistory(roomId), userId, messageId, late)
    } catch (err) {
      throw storeError(err)
    }
    if (reply === 'late') throw appError('unavailable', 'storage did not answer in time, nothing was written; retry later')
    return reply
  }

  async list (roomId: string, deadline?: Deadline): Promise<Record<string, string>> {
    try {
      return await atDeadline(this.#client, deadline).hgetall(this.#keys.roomReceipts(roomId))
    } catch (err) {
      throw storeError(err)
    }
  }

  async close (): Promise<void> {
    // the connection belongs to the redis plugin, which closes it
  }
}
