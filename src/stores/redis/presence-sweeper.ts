/**
 * The sweeper half of the Redis presence store: a survivor claims a dead instance (one sweeper
 * per dead instance, with a lease) and removes its entries from its crash index, emitting the
 * offline / left edges; a stopping instance removes its own entries the same way.
 */
import { ENTRY_SEPARATOR, type SweepResult } from '../presence.js'
import { Batch } from './batch.js'
import type { RoomReply, UserReply } from './lua/presence.js'
import { forgetOffline, type PresenceContext } from './presence-context.js'

const SWEEP_LEASE_MS = 30_000
const DEAD_PER_SWEEP = 10
const SCAN_COUNT = 500

export class PresenceSweeper {
  readonly #ctx: PresenceContext
  /** connection entries removed by #sweepInstance so far (sweep() reports its own share) */
  #swept = 0

  constructor (ctx: PresenceContext) {
    this.#ctx = ctx
  }

  /** Sweeps up to DEAD_PER_SWEEP dead instances other than this one. */
  async sweep (): Promise<SweepResult> {
    const { client, keys: k, instanceId: me } = this.#ctx
    const result: SweepResult = { instances: [], edges: 0 }
    const before = this.#swept
    const dead = (await client.sbInstancesDead(k.instances, DEAD_PER_SWEEP + 1)).filter(id => id !== me)
    for (const id of dead.slice(0, DEAD_PER_SWEEP)) {
      if (await client.sbInstanceClaim(k.instances, k.sweepLock(id), id, me, SWEEP_LEASE_MS) !== 'claimed') continue
      try {
        result.edges += await this.#sweepInstance(id)
        if (await client.sbInstanceSwept(k.instances, k.instanceStats, k.sweepLock(id), id) === 'removed') {
          await client.del(k.instanceUsers(id), k.instanceRooms(id))
        }
      } catch (err) {
        // release the claim so that the next tick (here or elsewhere) retries at once rather
        // than after the lease; the work done so far is idempotent
        await client.del(k.sweepLock(id)).catch(() => {})
        throw err
      }
      result.instances.push(id)
    }
    if (this.#swept > before) result.connections = this.#swept - before
    return result
  }

  /** Graceful shutdown: removes every entry of this instance, then the instance itself. */
  async removeInstance (): Promise<void> {
    const { client, keys: k, instanceId: me } = this.#ctx
    await this.#sweepInstance(me)
    await client.sbInstanceLeave(k.instances, k.instanceStats, k.sweepLock(me), me)
    await client.del(k.instanceUsers(me), k.instanceRooms(me))
  }

  /** Removes every entry of an instance, from its crash index; returns the edges emitted. */
  async #sweepInstance (id: string): Promise<number> {
    const { client, keys: k, ttlMs } = this.#ctx
    const prefix = id + ENTRY_SEPARATOR
    let edges = 0
    let cursor = '0'
    do {
      const [next, users] = await client.sscan(k.instanceUsers(id), cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      if (users.length === 0) continue
      const b = new Batch(client)
      // an empty complete set: every entry of that instance goes
      const replies = users.map(u => b.add<UserReply>(c => c.sbUserSync(k.userConns(u), k.userState(u), ttlMs, k.channel, u, prefix)))
      await b.run()
      const done = await Promise.all(replies)
      edges += await forgetOffline(this.#ctx, users, done)
      for (const r of done) this.#swept += r[3]
    } while (cursor !== '0')
    cursor = '0'
    do {
      const [next, rooms] = await client.sscan(k.instanceRooms(id), cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      if (rooms.length === 0) continue
      const b = new Batch(client)
      const replies = rooms.map(r => b.add<RoomReply>(c => c.sbRoomSync(k.roomConns(r), k.roomUsers(r), k.roomChannel, r, prefix)))
      await b.run()
      for (const e of await Promise.all(replies)) edges += e.length
    } while (cursor !== '0')
    return edges
  }
}
