/**
 * The message relay's subscriptions on a Redis Cluster (docs/scaling.md "Sharded relay"): the
 * append script SPUBLISHes each message on its room's shard channel (`<prefix>{r:<room>}:messages`,
 * the room's hash tag, so the script stays on one slot), and an instance SSUBSCRIBEs only to the
 * channels of rooms it has members in, on the primary that owns each channel's slot. So an
 * instance receives the messages of its rooms only (a classic PUBLISH reaches every instance).
 *
 * One plain connection per primary, made on demand from the Cluster client's slot map. Ours
 * rather than ioredis' `shardedSubscribers`, because the relay must know which rooms a dropped
 * subscription covered to replay exactly their gap: when a primary's connection closes (the
 * primary died, a network blip) or Redis takes a channel away (an unsolicited SUNSUBSCRIBE when
 * its slot moves, which ioredis reports as `moved`), every room it carried is placed again on
 * its slot's current primary and reported through `onGap` with those rooms, the gap closing
 * once they are all subscribed again (or after GAP_WAIT_MS, naming the rooms still not).
 *
 * A room followed for the first time is live once its SSUBSCRIBE is answered (`live`); one
 * that is not live after GAP_WAIT_MS (its primary is failing over) is reported as a gap too,
 * so what is published before it becomes live is replayed from history.
 */
import { Redis, type Cluster, type RedisOptions } from 'ioredis'
import calculateSlot from 'cluster-key-slot'

/** how long a gap waits for its rooms to be subscribed again before it is closed without them */
export const GAP_WAIT_MS = 10_000
/** a new room not live after this long is reported as a gap of its own (its join stops waiting then) */
export const FOLLOW_WAIT_MS = 1000

export interface ShardSubscriptionsOptions {
  /** the Cluster command client: its slot map says which primary owns a channel */
  cluster: Cluster
  /** options of the subscriber connections (host and port are set per primary) */
  options: RedisOptions
  /** the shard channel of a room */
  channelOf: (roomId: string) => string
  /** every message received, any room */
  onMessage: (json: string) => void
  /**
   * `rooms` lost their subscription: what was published to them until `resumed` settles was
   * not received. `resumed` gives the rooms still not subscribed when it gave up waiting.
   */
  onGap: (rooms: string[], resumed: Promise<string[]>) => void
}

interface Shard { key: string, conn: Redis, rooms: Set<string>, dropped: boolean }
/** one placement of a followed room; replaced by a new one when its subscription is lost */
interface Follow { shard: Shard | undefined, live: Promise<void>, isLive: boolean }

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms).unref()) }

export class ShardSubscriptions {
  readonly #o: ShardSubscriptionsOptions
  readonly #rooms = new Map<string, Follow>()
  readonly #shards = new Map<string, Shard>()
  #closed = false

  constructor (options: ShardSubscriptionsOptions) {
    this.#o = options
  }

  /** Subscribes to a room's channel (once); settles when it is live (or the room is unfollowed). */
  follow (roomId: string): Promise<void> {
    const current = this.#rooms.get(roomId)
    if (current !== undefined) return current.live
    // a request's deadline is passed explicitly (src/deadline.ts), so a connection made here
    // inside a `room:join` carries none of it into its later events and gap replays
    return this.#follow(roomId)
  }

  #follow (roomId: string): Promise<void> {
    const f = this.#start(roomId, 0)
    // not live soon (its primary is away): a gap of its own, replayed when it is
    const timer = setTimeout(() => {
      if (this.#rooms.get(roomId) === f && !f.isLive) this.#o.onGap([roomId], this.#settled([roomId]))
    }, FOLLOW_WAIT_MS)
    timer.unref()
    f.live.then(() => { clearTimeout(timer) }, () => {})
    return f.live
  }

  /** Whether a room's subscription is live now. */
  isLive (roomId: string): boolean {
    return this.#rooms.get(roomId)?.isLive === true
  }

  /** Stops following a room (its last local member left). */
  unfollow (roomId: string): void {
    const f = this.#rooms.get(roomId)
    if (f === undefined) return
    this.#rooms.delete(roomId)
    const shard = f.shard
    if (shard === undefined) return
    shard.rooms.delete(roomId)
    if (!shard.dropped) shard.conn.sunsubscribe(this.#o.channelOf(roomId)).catch(() => {})
  }

  close (): void {
    this.#closed = true
    for (const s of this.#shards.values()) { s.dropped = true; s.conn.disconnect() }
    this.#shards.clear()
    this.#rooms.clear()
  }

  #start (roomId: string, delayMs: number): Follow {
    const f: Follow = { shard: undefined, live: Promise.resolve(), isLive: false }
    this.#rooms.set(roomId, f)
    f.live = this.#place(roomId, f, delayMs)
    return f
  }

  /** Subscribes `f`'s room on its slot's primary, trying again until done or superseded. */
  async #place (roomId: string, f: Follow, delayMs: number): Promise<void> {
    const channel = this.#o.channelOf(roomId)
    const slot = calculateSlot(channel)
    for (let attempt = 0; ; attempt++) {
      if (delayMs > 0 || attempt > 0) await sleep(Math.min(delayMs + 100 * attempt, 1000))
      if (this.#closed) return
      // superseded (its shard dropped meanwhile and placed it again) or unfollowed
      if (this.#rooms.get(roomId) !== f) return await this.#rooms.get(roomId)?.live
      const key = this.#o.cluster.slots[slot]?.[0]
      if (key === undefined) continue
      const shard = this.#shard(key)
      shard.rooms.add(roomId)
      f.shard = shard
      try {
        await shard.conn.ssubscribe(channel)
      } catch {
        if (this.#rooms.get(roomId) !== f) return await this.#rooms.get(roomId)?.live
        // MOVED (a stale slot map) or the connection failed: try again shortly
        shard.rooms.delete(roomId)
        f.shard = undefined
        continue
      }
      if (this.#rooms.get(roomId) !== f) {
        // unfollowed while subscribing
        if (!shard.rooms.has(roomId) && !shard.dropped) shard.conn.sunsubscribe(channel).catch(() => {})
        return await this.#rooms.get(roomId)?.live
      }
      f.isLive = true
      return
    }
  }

  #shard (key: string): Shard {
    const existing = this.#shards.get(key)
    if (existing !== undefined && !existing.dropped) return existing
    const at = key.lastIndexOf(':')
    const conn = new Redis({
      ...this.#o.options,
      host: key.slice(0, at),
      port: Number(key.slice(at + 1)),
      // no reconnect: its rooms are placed again from the slot map (the primary may have changed)
      retryStrategy: () => null,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null
    })
    const shard: Shard = { key, conn, rooms: new Set(), dropped: false }
    this.#shards.set(key, shard)
    conn.on('error', () => {})
    conn.on('smessage', (_channel: string, json: string) => { this.#o.onMessage(json) })
    conn.once('close', () => { this.#drop(shard) })
    // Redis took a channel away (its slot moved): start this primary's subscriptions over
    conn.on('moved', () => { conn.disconnect() })
    return shard
  }

  /** A shard's connection is gone: place its rooms again, reporting the gap. */
  #drop (shard: Shard): void {
    if (shard.dropped) return
    shard.dropped = true
    shard.conn.disconnect()
    if (this.#shards.get(shard.key) === shard) this.#shards.delete(shard.key)
    if (this.#closed) return
    const rooms: string[] = []
    for (const r of shard.rooms) {
      const f = this.#rooms.get(r)
      if (f?.shard !== shard) continue
      // a gap only where the subscription was live: one still being placed is already covered
      // (by the gap that placed it again, or its first follow's wait, whose `live` follows this)
      if (f.isLive) rooms.push(r)
      // a new placement supersedes the old (whose waiters follow it); give the cluster a moment
      // to notice a dead primary before asking its slot map again
      this.#start(r, 250)
    }
    shard.rooms.clear()
    if (rooms.length > 0) this.#o.onGap(rooms, this.#settled(rooms))
  }

  /** Resolves when every room is live again (or unfollowed), or after GAP_WAIT_MS with those still not. */
  async #settled (rooms: string[]): Promise<string[]> {
    const all = Promise.all(rooms.map(async r => await this.#rooms.get(r)?.live))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([all, new Promise<void>(resolve => { timer = setTimeout(resolve, GAP_WAIT_MS); timer.unref() })])
    clearTimeout(timer)
    return rooms.filter(r => this.#rooms.has(r) && !this.isLive(r))
  }
}
