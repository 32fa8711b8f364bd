/**
 * ReceiptStore on Redis: one hash per room (userId → last-read id), next to the room's history
 * stream under the same hash tag, so one Lua script can check that the message is in history
 * and compare-and-set the receipt atomically.
 */
import type { Redis, Cluster } from 'ioredis'
import type { Keys } from '../keys.js'
import type { MarkResult, ReceiptStore } from '../receipts.js'
import { storeError } from './errors.js'

/*
 * KEYS[1] room receipts hash, KEYS[2] room history stream (same slot)
 * ARGV[1] userId, ARGV[2] message id (canonical `<ms>-<seq>`)
 * Returns 'not_found' (not in history), 'unchanged' (stored receipt is at or past it) or
 * 'advanced' (stored). Ids are compared as numbers: both parts have at most 15 digits
 * (schema), within a Lua double's exact range.
 */
const MARK = `
if #redis.call('XRANGE', KEYS[2], ARGV[2], ARGV[2], 'COUNT', 1) == 0 then return 'not_found' end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local cm, cs = string.match(cur, '^(%d+)-(%d+)$')
  local nm, ns = string.match(ARGV[2], '^(%d+)-(%d+)$')
  cm, cs, nm, ns = tonumber(cm), tonumber(cs), tonumber(nm), tonumber(ns)
  if nm < cm or (nm == cm and ns <= cs) then return 'unchanged' end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'advanced'
`

interface ScriptedClient {
  sbReceiptMark: (receipts: string, stream: string, userId: string, messageId: string) => Promise<MarkResult>
}

export interface RedisReceiptOptions {
  client: Redis | Cluster
  keys: Keys
}

export class RedisReceiptStore implements ReceiptStore {
  readonly #client: Redis | Cluster
  readonly #keys: Keys

  constructor (opts: RedisReceiptOptions) {
    this.#client = opts.client
    this.#keys = opts.keys
    if (!('sbReceiptMark' in this.#client)) {
      this.#client.defineCommand('sbReceiptMark', { numberOfKeys: 2, lua: MARK })
    }
  }

  async mark (roomId: string, userId: string, messageId: string): Promise<MarkResult> {
    try {
      const scripts = this.#client as unknown as ScriptedClient
      return await scripts.sbReceiptMark(this.#keys.roomReceipts(roomId), this.#keys.roomHistory(roomId), userId, messageId)
    } catch (err) {
      throw storeError(err)
    }
  }

  async list (roomId: string): Promise<Record<string, string>> {
    try {
      return await this.#client.hgetall(this.#keys.roomReceipts(roomId))
    } catch (err) {
      throw storeError(err)
    }
  }

  async close (): Promise<void> {
    // the connection belongs to the redis plugin, which closes it
  }
}
