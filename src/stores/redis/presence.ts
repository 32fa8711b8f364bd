/**
 * PresenceStore on Redis. The layout (keys from stores/keys.ts, each script on one hash tag):
 *
 *   {u:<user>}:pc   ZSET  '<instance>|<socket>' → expiresAt     a user's connections
 *   {u:<user>}:ps   HASH  on, seen                              last announced edge, lastSeenAt
 *   {r:<room>}:pc   HASH  '<instance>|<socket>' → user          connections in a room
 *   {r:<room>}:pu   HASH  user → count                          decides joined / left
 *   {i:<inst>}:u/r  SET   users / rooms the instance has entries for (its crash index)
 *   {g}:inst        ZSET  instance → expiresAt                  live instances
 *   {g}:stats       HASH  instance → stats JSON
 *   {g}:online      ZSET  user → expiresAt                      the online-users count
 *   {g}:sweep:<inst>       the lease of the survivor sweeping a dead instance
 *
 * Every decision (online / offline, joined / left) is made in Lua and PUBLISHed by the same
 * script, so edges are exactly once and, per user and per room, in the order they happened;
 * each instance relays them to its local subscribers. Expiry is measured with the Redis clock
 * (`TIME`), never an instance's, so skew between instances cannot expire a live entry.
 * Reads of many users go out as one pipeline: one round trip.
 */
import { Cluster, type Redis } from 'ioredis'
import type { PresenceState } from '../../schemas/common.js'
import type { Keys } from '../keys.js'
import { storeError } from './errors.js'
import {
  ENTRY_SEPARATOR, offlineState, presenceState,
  type ClusterStats, type HeartbeatInput, type HeartbeatResult, type InstanceStats,
  type PresenceChange, type PresenceListener, type PresenceStore, type RoomChange,
  type RoomMember, type RoomPresenceEvent, type RoomPresenceListener, type SweepResult
} from '../presence.js'

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

/*
 * sbPresence — every change of a user's connections, and the edge it causes.
 * KEYS[1] user connections ZSET, KEYS[2] user state HASH
 * ARGV[1] mode: 'add' (add / refresh ARGV[6..]), 'del' (remove ARGV[6..]), 'sync' (ARGV[6..] is
 *   the instance's complete set for this user: its other entries are removed, these refreshed)
 * ARGV[2] ttl ms, ARGV[3] channel, ARGV[4] user id, ARGV[5] instance prefix '<instance>|',
 * ARGV[6..] socket ids
 * Entries past their expiry belong to an instance that stopped refreshing them and are dropped
 * first. The user is online while any entry is left; when that flips against the last announced
 * edge (state.on), the edge is recorded and published as '<status>|<connections>|<at>|<user>'.
 * Returns { edge (0 none, 1 online, 2 offline), connections, now, entries removed (expired or synced away) }.
 */
const PRESENCE = NOW + `
local mode, ttl, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[5]
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if mode == 'sync' then
  local keep = {}
  for i = 6, #ARGV do keep[prefix .. ARGV[i]] = true end
  local all = redis.call('ZRANGE', KEYS[1], 0, -1)
  for _, m in ipairs(all) do
    if string.sub(m, 1, #prefix) == prefix and not keep[m] then removed = removed + redis.call('ZREM', KEYS[1], m) end
  end
end
if mode == 'del' then
  for i = 6, #ARGV do redis.call('ZREM', KEYS[1], prefix .. ARGV[i]) end
elseif #ARGV >= 6 then
  for i = 6, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, prefix .. ARGV[i]) end
  -- every score is at most now + ttl. Sweeps remove expired entries; this only bounds a key
  -- that nobody sweeps, late enough that reads still find lastSeenAt in its expired entries
  redis.call('PEXPIRE', KEYS[1], ttl + 600000)
end
local n = redis.call('ZCARD', KEYS[1])
local on = redis.call('HGET', KEYS[2], 'on') == '1'
local edge = 0
if n > 0 and not on then
  redis.call('HSET', KEYS[2], 'on', '1')
  edge = 1
  redis.call('PUBLISH', ARGV[3], 'online|' .. n .. '|' .. now .. '|' .. ARGV[4])
elseif n == 0 and on then
  redis.call('HSET', KEYS[2], 'on', '0', 'seen', now)
  edge = 2
  redis.call('PUBLISH', ARGV[3], 'offline|0|' .. now .. '|' .. ARGV[4])
end
return { edge, n, now, removed }
`

/*
 * sbPresenceRead — a user's state.
 * KEYS[1] user connections ZSET, KEYS[2] user state HASH
 * ARGV[1] ttl ms
 * Returns { live connections, lastSeenAt or -1, now }. With no live entry but expired ones not
 * swept yet, the newest of those was last refreshed at its expiry - ttl: that is lastSeenAt.
 */
const PRESENCE_READ = NOW + `
local n = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local seen = tonumber(redis.call('HGET', KEYS[2], 'seen')) or -1
if n == 0 then
  local last = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if last[2] then
    local s = tonumber(last[2]) - tonumber(ARGV[1])
    if s > seen then seen = s end
  end
end
return { n, seen, now }
`

/*
 * sbRoomPresence — every change of a room's connections, and the edges it causes.
 * KEYS[1] room connections HASH, KEYS[2] room users HASH
 * ARGV[1] mode: 'join' / 'leave' (the pairs in ARGV[5..]), 'sync' (the pairs are the instance's
 *   complete set of connections in the room: its other entries are removed)
 * ARGV[2] channel, ARGV[3] room id, ARGV[4] instance prefix '<instance>|',
 * ARGV[5..] pairs socket id, user id
 * A user's first connection in the room publishes 'joined|<room>|<user>', the last one out
 * 'left|<room>|<user>'. Returns the edges as '<status>|<user>', in the order published.
 */
const ROOM_PRESENCE = `
local mode, prefix = ARGV[1], ARGV[4]
local edges = {}
local function add(field, user)
  if redis.call('HSETNX', KEYS[1], field, user) == 1 then
    if redis.call('HINCRBY', KEYS[2], user, 1) == 1 then
      redis.call('PUBLISH', ARGV[2], 'joined|' .. ARGV[3] .. '|' .. user)
      edges[#edges + 1] = 'joined|' .. user
    end
  end
end
local function remove(field)
  local user = redis.call('HGET', KEYS[1], field)
  if not user then return end
  redis.call('HDEL', KEYS[1], field)
  if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
    redis.call('HDEL', KEYS[2], user)
    redis.call('PUBLISH', ARGV[2], 'left|' .. ARGV[3] .. '|' .. user)
    edges[#edges + 1] = 'left|' .. user
  end
end
if mode == 'sync' then
  local keep = {}
  for i = 5, #ARGV, 2 do keep[prefix .. ARGV[i]] = true end
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(f, 1, #prefix) == prefix and not keep[f] then remove(f) end
  end
  for i = 5, #ARGV, 2 do add(prefix .. ARGV[i], ARGV[i + 1]) end
elseif mode == 'join' then
  for i = 5, #ARGV, 2 do add(prefix .. ARGV[i], ARGV[i + 1]) end
else
  for i = 5, #ARGV, 2 do remove(prefix .. ARGV[i]) end
end
return edges
`

/*
 * sbPresenceIndex — replaces an instance's crash index in one step (never seen empty).
 * KEYS[1] instance users SET, KEYS[2] instance rooms SET
 * ARGV[1] number of users n, ARGV[2..n+1] user ids, ARGV[n+2..] room ids
 */
const INDEX = `
redis.call('DEL', KEYS[1], KEYS[2])
local n = tonumber(ARGV[1])
local function addAll(key, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 999, to)
    redis.call('SADD', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
addAll(KEYS[1], 2, n + 1)
addAll(KEYS[2], n + 2, #ARGV)
return 1
`

/*
 * sbInstanceBeat — an instance's liveness and stats.
 * KEYS[1] instances ZSET, KEYS[2] stats HASH
 * ARGV[1] instance id, ARGV[2] ttl ms, ARGV[3] stats JSON
 * Returns 1 when the instance had no live entry before: its first beat, or it was presumed dead.
 */
const INSTANCE_BEAT = NOW + `
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if prev and tonumber(prev) > now then return 0 end
return 1
`

/*
 * sbOnlineUsers — the online-users count: touched by heartbeats and edges, pruned by expiry.
 * KEYS[1] online users ZSET
 * ARGV[1] 'add' | 'rem', ARGV[2] ttl ms, ARGV[3..] user ids
 */
const ONLINE = NOW + `
if ARGV[1] == 'add' then
  for i = 3, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i]) end
else
  for i = 3, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 1
`

/*
 * sbInstanceDead — instances whose heartbeat stopped.
 * KEYS[1] instances ZSET; ARGV[1] most to return
 */
const INSTANCE_DEAD = NOW + `
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
`

/*
 * sbInstanceClaim — the atomic claim on a dead instance: one survivor sweeps it.
 * KEYS[1] instances ZSET, KEYS[2] that instance's sweep lock
 * ARGV[1] dead instance id, ARGV[2] claimant id, ARGV[3] lease ms
 * Returns 1 when the entry is still expired and the lock was free. The lease lets another
 * survivor take over if the claimant dies mid-sweep.
 */
const INSTANCE_CLAIM = NOW + `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) > now then return 0 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then return 1 end
return 0
`

/*
 * sbInstanceGone — forgets a swept instance.
 * KEYS[1] instances ZSET, KEYS[2] stats HASH, KEYS[3] its sweep lock
 * ARGV[1] instance id, ARGV[2] '1' when it is this instance shutting down (remove even if live)
 * Returns 1 when the entry was removed; 0 when the instance came back meanwhile (it stalled
 * rather than died), and then it keeps its entry and rewrites its state on its next beats.
 */
const INSTANCE_GONE = NOW + `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
if ARGV[2] ~= '1' and s and tonumber(s) > now then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`

/*
 * sbInstanceLive — live instances with their stats, and the online-users count.
 * KEYS[1] instances ZSET, KEYS[2] stats HASH, KEYS[3] online users ZSET
 * Returns { onlineUsers, id1, stats1, id2, stats2, ... } ordered by id.
 */
const INSTANCE_LIVE = NOW + `
local out = { redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf') }
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
table.sort(ids)
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out
`

type Reply<T> = Promise<T>
interface Scripted {
  sbPresence: (conns: string, state: string, mode: string, ttl: number, channel: string, userId: string, prefix: string, ...sids: string[]) => Reply<[number, number, number]>
  sbPresenceRead: (conns: string, state: string, ttl: number) => Reply<[number, number, number]>
  sbRoomPresence: (conns: string, users: string, mode: string, channel: string, roomId: string, prefix: string, ...pairs: string[]) => Reply<string[]>
  sbPresenceIndex: (users: string, rooms: string, n: number, ...ids: string[]) => Reply<number>
  sbInstanceBeat: (instances: string, stats: string, id: string, ttl: number, json: string) => Reply<number>
  sbOnlineUsers: (online: string, mode: string, ttl: number, ...users: string[]) => Reply<number>
  sbInstanceDead: (instances: string, max: number) => Reply<string[]>
  sbInstanceClaim: (instances: string, lock: string, id: string, claimant: string, leaseMs: number) => Reply<number>
  sbInstanceGone: (instances: string, stats: string, lock: string, id: string, self: string) => Reply<number>
  sbInstanceLive: (instances: string, stats: string, online: string) => Reply<Array<number | string>>
}

const SCRIPTS: Array<[keyof Scripted, number, string]> = [
  ['sbPresence', 2, PRESENCE],
  ['sbPresenceRead', 2, PRESENCE_READ],
  ['sbRoomPresence', 2, ROOM_PRESENCE],
  ['sbPresenceIndex', 2, INDEX],
  ['sbInstanceBeat', 2, INSTANCE_BEAT],
  ['sbOnlineUsers', 1, ONLINE],
  ['sbInstanceDead', 1, INSTANCE_DEAD],
  ['sbInstanceClaim', 2, INSTANCE_CLAIM],
  ['sbInstanceGone', 3, INSTANCE_GONE],
  ['sbInstanceLive', 3, INSTANCE_LIVE]
]

const SWEEP_LEASE_MS = 30_000
const DEAD_PER_SWEEP = 10
const SCAN_COUNT = 500

export interface RedisPresenceOptions {
  client: Redis | Cluster
  /** a connection in subscriber mode, owned by the caller (shared with the history relay) */
  subscriber: Redis | Cluster
  keys: Keys
  instanceId: string
  ttlMs: number
}

export class RedisPresenceStore implements PresenceStore {
  readonly instanceId: string
  readonly ttlMs: number
  readonly #client: Redis | Cluster
  readonly #sub: Redis | Cluster
  readonly #k: Keys['presence']
  readonly #prefix: string
  readonly #listeners: PresenceListener[] = []
  readonly #roomListeners: RoomPresenceListener[] = []
  #subscribed: Promise<unknown> | undefined
  /** connection entries removed by #sweepInstance so far (sweep() reports its own share) */
  #swept = 0
  #onMessage: ((channel: string, message: string) => void) | undefined

  constructor (opts: RedisPresenceOptions) {
    this.#client = opts.client
    this.#sub = opts.subscriber
    this.#k = opts.keys.presence
    this.instanceId = opts.instanceId
    this.ttlMs = opts.ttlMs
    this.#prefix = opts.instanceId + ENTRY_SEPARATOR
    for (const [name, numberOfKeys, lua] of SCRIPTS) {
      if (!(name in this.#client)) this.#client.defineCommand(name, { numberOfKeys, lua })
    }
  }

  get #s (): Scripted {
    return this.#client as unknown as Scripted
  }

  async connect (userId: string, socketId: string): Promise<PresenceChange> {
    const k = this.#k
    try {
      // issued in this order on one connection: the crash index names the user before the
      // entry exists, so an instance dying right after still gets the entry swept
      const [, r] = await Promise.all([
        this.#client.sadd(k.instanceUsers(this.instanceId), userId),
        this.#s.sbPresence(k.userConns(userId), k.userState(userId), 'add', this.ttlMs, k.channel, userId, this.#prefix, socketId),
        this.#s.sbOnlineUsers(k.onlineUsers, 'add', this.ttlMs, userId)
      ])
      return toChange(userId, r)
    } catch (err) {
      throw storeError(err)
    }
  }

  async disconnect (userId: string, socketId: string): Promise<PresenceChange> {
    const k = this.#k
    try {
      const change = toChange(userId, await this.#s.sbPresence(k.userConns(userId), k.userState(userId), 'del', this.ttlMs, k.channel, userId, this.#prefix, socketId))
      if (change.edge?.status === 'offline') await this.#s.sbOnlineUsers(k.onlineUsers, 'rem', this.ttlMs, userId)
      return change
    } catch (err) {
      throw storeError(err)
    }
  }

  async joinRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    const k = this.#k
    try {
      const [, edges] = await Promise.all([
        this.#client.sadd(k.instanceRooms(this.instanceId), roomId),
        this.#s.sbRoomPresence(k.roomConns(roomId), k.roomUsers(roomId), 'join', k.roomChannel, roomId, this.#prefix, socketId, userId)
      ])
      return { edge: toRoomEdges(roomId, edges)[0] ?? null }
    } catch (err) {
      throw storeError(err)
    }
  }

  async leaveRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    const k = this.#k
    try {
      const edges = await this.#s.sbRoomPresence(k.roomConns(roomId), k.roomUsers(roomId), 'leave', k.roomChannel, roomId, this.#prefix, socketId, userId)
      return { edge: toRoomEdges(roomId, edges)[0] ?? null }
    } catch (err) {
      throw storeError(err)
    }
  }

  async heartbeat (input: HeartbeatInput): Promise<HeartbeatResult> {
    const k = this.#k
    const me = this.instanceId
    const ttl = this.ttlMs
    const calls: Array<(s: Scripted) => unknown> = [
      // the index first: it must name every user and room before their entries are written
      s => s.sbPresenceIndex(k.instanceUsers(me), k.instanceRooms(me), input.index.users.length, ...input.index.users, ...input.index.rooms),
      s => s.sbInstanceBeat(k.instances, k.instanceStats, me, ttl, JSON.stringify(input.stats))
    ]
    for (const [userId, sids] of input.users) {
      calls.push(s => s.sbPresence(k.userConns(userId), k.userState(userId), 'sync', ttl, k.channel, userId, this.#prefix, ...sids))
    }
    for (const [roomId, members] of input.rooms) {
      calls.push(s => s.sbRoomPresence(k.roomConns(roomId), k.roomUsers(roomId), 'sync', k.roomChannel, roomId, this.#prefix, ...members.flat()))
    }
    for (let i = 0; i < input.online.length; i += 1000) {
      const chunk = input.online.slice(i, i + 1000)
      calls.push(s => s.sbOnlineUsers(k.onlineUsers, 'add', ttl, ...chunk))
    }
    try {
      const replies = await this.#batch(calls)
      await this.#forgetOffline(input.users.map(([u]) => u), replies.slice(2, 2 + input.users.length) as Array<[number, number, number]>)
      return { wasGone: replies[1] === 1 }
    } catch (err) {
      throw storeError(err)
    }
  }

  async sweep (): Promise<SweepResult> {
    const k = this.#k
    const result: SweepResult = { instances: [], edges: 0 }
    const before = this.#swept
    try {
      const dead = (await this.#s.sbInstanceDead(k.instances, DEAD_PER_SWEEP + 1)).filter(id => id !== this.instanceId)
      for (const id of dead.slice(0, DEAD_PER_SWEEP)) {
        const claimed = await this.#s.sbInstanceClaim(k.instances, k.sweepLock(id), id, this.instanceId, SWEEP_LEASE_MS)
        if (claimed !== 1) continue
        try {
          result.edges += await this.#sweepInstance(id)
          if (await this.#s.sbInstanceGone(k.instances, k.instanceStats, k.sweepLock(id), id, '0') === 1) {
            await this.#client.del(k.instanceUsers(id), k.instanceRooms(id))
          }
        } catch (err) {
          // release the claim so that the next tick (here or elsewhere) retries at once rather
          // than after the lease; the work done so far is idempotent
          await this.#client.del(k.sweepLock(id)).catch(() => {})
          throw err
        }
        result.instances.push(id)
      }
      if (this.#swept > before) result.connections = this.#swept - before
      return result
    } catch (err) {
      throw storeError(err)
    }
  }

  async removeInstance (): Promise<void> {
    const k = this.#k
    const me = this.instanceId
    try {
      await this.#sweepInstance(me)
      await this.#s.sbInstanceGone(k.instances, k.instanceStats, k.sweepLock(me), me, '1')
      await this.#client.del(k.instanceUsers(me), k.instanceRooms(me))
    } catch (err) {
      throw storeError(err)
    }
  }

  async get (userId: string): Promise<PresenceState> {
    return (await this.query([userId]))[0]
  }

  async query (userIds: readonly string[]): Promise<PresenceState[]> {
    if (userIds.length === 0) return []
    const k = this.#k
    try {
      const replies = await this.#batch(userIds.map(u => (s: Scripted) => s.sbPresenceRead(k.userConns(u), k.userState(u), this.ttlMs))) as Array<[number, number, number]>
      return userIds.map((u, i) => {
        const [n, seen, now] = replies[i]
        return presenceState(u, n, now, seen < 0 ? null : seen)
      })
    } catch (err) {
      throw storeError(err)
    }
  }

  async roomMembers (roomId: string): Promise<RoomMember[]> {
    const k = this.#k
    try {
      const [live, conns] = await this.#batch([
        s => s.sbInstanceLive(k.instances, k.instanceStats, k.onlineUsers),
        s => (s as unknown as Redis).hgetall(k.roomConns(roomId))
      ]) as [Array<number | string>, Record<string, string>]
      const liveIds = new Set<string>()
      for (let i = 1; i < live.length; i += 2) liveIds.add(String(live[i]))
      const counts = new Map<string, number>()
      for (const [entry, userId] of Object.entries(conns)) {
        // entries of an instance whose heartbeat stopped are not counted, swept or not
        if (!liveIds.has(entry.slice(0, entry.indexOf(ENTRY_SEPARATOR)))) continue
        counts.set(userId, (counts.get(userId) ?? 0) + 1)
      }
      return [...counts].map(([userId, connections]) => ({ userId, connections }))
        .sort((a, b) => a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)
    } catch (err) {
      throw storeError(err)
    }
  }

  async stats (): Promise<ClusterStats> {
    const k = this.#k
    try {
      const live = await this.#s.sbInstanceLive(k.instances, k.instanceStats, k.onlineUsers)
      const instances: InstanceStats[] = []
      for (let i = 1; i < live.length; i += 2) {
        const id = String(live[i])
        instances.push(parseStats(id, String(live[i + 1])))
      }
      return { instances, onlineUsers: Number(live[0]) }
    } catch (err) {
      throw storeError(err)
    }
  }

  onPresence (listener: PresenceListener): void {
    this.#listeners.push(listener)
    this.#subscribe()
  }

  onRoomPresence (listener: RoomPresenceListener): void {
    this.#roomListeners.push(listener)
    this.#subscribe()
  }

  /** Resolves once the edge subscription is active (or has failed and will be retried). */
  async ready (): Promise<void> {
    await this.#subscribed
  }

  async close (): Promise<void> {
    this.#listeners.length = 0
    this.#roomListeners.length = 0
    if (this.#onMessage !== undefined) this.#sub.off('message', this.#onMessage)
    // the connections belong to the redis plugin, which closes them
  }

  #subscribe (): void {
    if (this.#subscribed !== undefined) return
    const { channel, roomChannel } = this.#k
    this.#onMessage = (ch: string, message: string) => {
      if (ch === channel) {
        const state = parseEdge(message)
        if (state !== undefined) for (const l of this.#listeners) l(state)
      } else if (ch === roomChannel) {
        const event = parseRoomEdge(message)
        if (event !== undefined) for (const l of this.#roomListeners) l(event)
      }
    }
    this.#sub.on('message', this.#onMessage)
    // ioredis re-subscribes by itself after a reconnect
    this.#subscribed = this.#sub.subscribe(channel, roomChannel).catch(() => {})
  }

  /**
   * Runs the calls in one round trip: a pipeline on a single Redis; on a cluster, where a
   * pipeline must stay on one node, auto-pipelining groups them per node.
   */
  async #batch (calls: Array<(s: Scripted) => unknown>): Promise<unknown[]> {
    if (this.#client instanceof Cluster) {
      return await Promise.all(calls.map(async f => await (f(this.#s) as Promise<unknown>)))
    }
    const p = this.#client.pipeline()
    for (const f of calls) f(p as unknown as Scripted)
    const res = await p.exec()
    if (res === null) throw new Error('pipeline aborted')
    return res.map(([err, value]) => {
      if (err !== null) throw err
      return value
    })
  }

  /** Users whose change was an offline edge leave the online-users count. */
  async #forgetOffline (userIds: string[], replies: Array<[number, number, number]>): Promise<number> {
    const gone = userIds.filter((_, i) => replies[i]?.[0] === 2)
    for (let i = 0; i < gone.length; i += 1000) {
      await this.#s.sbOnlineUsers(this.#k.onlineUsers, 'rem', this.ttlMs, ...gone.slice(i, i + 1000))
    }
    return userIds.filter((_, i) => replies[i]?.[0] !== 0).length
  }

  /** Removes every entry of an instance, from its crash index; returns the edges emitted. */
  async #sweepInstance (id: string): Promise<number> {
    const k = this.#k
    const prefix = id + ENTRY_SEPARATOR
    let edges = 0
    let cursor = '0'
    do {
      const [next, users] = await this.#client.sscan(k.instanceUsers(id), cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      if (users.length === 0) continue
      const replies = await this.#batch(users.map(u => (s: Scripted) => s.sbPresence(k.userConns(u), k.userState(u), 'sync', this.ttlMs, k.channel, u, prefix)))
      edges += await this.#forgetOffline(users, replies as Array<[number, number, number]>)
      for (const r of replies as Array<[number, number, number, number]>) this.#swept += r?.[3] ?? 0
    } while (cursor !== '0')
    cursor = '0'
    do {
      const [next, rooms] = await this.#client.sscan(k.instanceRooms(id), cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      if (rooms.length === 0) continue
      const replies = await this.#batch(rooms.map(r => (s: Scripted) => s.sbRoomPresence(k.roomConns(r), k.roomUsers(r), 'sync', k.roomChannel, r, prefix)))
      for (const e of replies as string[][]) edges += e.length
    } while (cursor !== '0')
    return edges
  }
}

function toChange (userId: string, [edge, n, now]: [number, number, number]): PresenceChange {
  if (edge === 1) return { edge: { userId, status: 'online', connections: n, lastSeenAt: now }, connections: n }
  if (edge === 2) return { edge: offlineState(userId, now), connections: 0 }
  return { edge: null, connections: n }
}

function toRoomEdges (roomId: string, edges: string[]): RoomPresenceEvent[] {
  return edges.map(e => {
    const i = e.indexOf('|')
    return { roomId, userId: e.slice(i + 1), status: e.slice(0, i) as RoomPresenceEvent['status'] }
  })
}

/** '<status>|<connections>|<at>|<user>' (the user id last: it may hold '|'). */
function parseEdge (message: string): PresenceState | undefined {
  const a = message.indexOf('|')
  const b = message.indexOf('|', a + 1)
  const c = message.indexOf('|', b + 1)
  if (a < 0 || b < 0 || c < 0) return undefined
  const status = message.slice(0, a)
  const userId = message.slice(c + 1)
  const at = Number(message.slice(b + 1, c))
  if (status === 'online') return { userId, status, connections: Number(message.slice(a + 1, b)), lastSeenAt: at }
  if (status === 'offline') return offlineState(userId, at)
  return undefined
}

/** '<status>|<room>|<user>' (room ids cannot hold '|'). */
function parseRoomEdge (message: string): RoomPresenceEvent | undefined {
  const a = message.indexOf('|')
  const b = message.indexOf('|', a + 1)
  if (a < 0 || b < 0) return undefined
  const status = message.slice(0, a)
  if (status !== 'joined' && status !== 'left') return undefined
  return { roomId: message.slice(a + 1, b), userId: message.slice(b + 1), status }
}

function parseStats (id: string, json: string): InstanceStats {
  let s: Partial<InstanceStats> = {}
  try { s = JSON.parse(json) as Partial<InstanceStats> } catch {}
  const num = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0
  return { id, connections: num(s.connections), rooms: num(s.rooms), uptimeS: num(s.uptimeS), rssBytes: num(s.rssBytes) }
}
