/**
 * In-process PresenceStore for the single-instance mode (no REDIS_URL). A `MemoryPresenceBackend`
 * plays the part of the shared Redis: several stores (one per simulated instance) may share one,
 * which is how the contract suite runs the crash and multi-instance cases against this
 * implementation too. Every method mirrors one Lua script of the Redis store and runs without an
 * `await` in the middle, so it is atomic in the same sense.
 */
import type { PresenceState } from '../../schemas/common.js'
import {
  ENTRY_SEPARATOR, offlineState, presenceState,
  type ClusterStats, type HeartbeatInput, type HeartbeatResult, type InstanceStats,
  type PresenceChange, type PresenceListener, type PresenceStore, type RoomChange,
  type RoomMember, type RoomPresenceEvent, type RoomPresenceListener, type SweepResult
} from '../presence.js'

interface UserRecord {
  /** entry → expiresAt */
  conns: Map<string, number>
  /** true while the last announced edge was online */
  on: boolean
  seen: number | null
}

interface RoomRecord {
  /** entry → userId */
  conns: Map<string, string>
  /** userId → connections in the room */
  users: Map<string, number>
}

/** The shared state of every store on it: what Redis holds in the Redis implementation. */
export class MemoryPresenceBackend {
  readonly users = new Map<string, UserRecord>()
  readonly rooms = new Map<string, RoomRecord>()
  readonly instances = new Map<string, { expiresAt: number, stats: InstanceStats }>()
  readonly index = new Map<string, { users: Set<string>, rooms: Set<string> }>()
  readonly online = new Map<string, number>()
  readonly locks = new Map<string, { owner: string, expiresAt: number }>()
  readonly presenceListeners = new Set<PresenceListener>()
  readonly roomListeners = new Set<RoomPresenceListener>()

  constructor (readonly now: () => number = Date.now) {}

  publish (state: PresenceState): void {
    for (const l of this.presenceListeners) {
      try { l(state) } catch {}
    }
  }

  publishRoom (event: RoomPresenceEvent): void {
    for (const l of this.roomListeners) {
      try { l(event) } catch {}
    }
  }
}

export interface MemoryPresenceOptions {
  instanceId: string
  ttlMs: number
  /** shared with other stores to simulate several instances; a private one by default */
  backend?: MemoryPresenceBackend
}

const SWEEP_LEASE_MS = 30_000
const DEAD_PER_SWEEP = 10

export class MemoryPresenceStore implements PresenceStore {
  readonly instanceId: string
  readonly ttlMs: number
  readonly #b: MemoryPresenceBackend
  readonly #prefix: string
  readonly #mine: Array<PresenceListener | RoomPresenceListener> = []

  constructor (opts: MemoryPresenceOptions) {
    this.instanceId = opts.instanceId
    this.ttlMs = opts.ttlMs
    this.#b = opts.backend ?? new MemoryPresenceBackend()
    this.#prefix = opts.instanceId + ENTRY_SEPARATOR
  }

  async connect (userId: string, socketId: string): Promise<PresenceChange> {
    this.#indexOf(this.instanceId).users.add(userId)
    const change = this.#userChange(userId, 'add', this.#prefix, [socketId])
    this.#b.online.set(userId, this.#b.now() + this.ttlMs)
    return change
  }

  async disconnect (userId: string, socketId: string): Promise<PresenceChange> {
    return this.#userChange(userId, 'del', this.#prefix, [socketId])
  }

  async joinRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    this.#indexOf(this.instanceId).rooms.add(roomId)
    return { edge: this.#roomChange(roomId, 'join', this.#prefix, [[socketId, userId]])[0] ?? null }
  }

  async leaveRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    return { edge: this.#roomChange(roomId, 'leave', this.#prefix, [[socketId, userId]])[0] ?? null }
  }

  async heartbeat (input: HeartbeatInput): Promise<HeartbeatResult> {
    const b = this.#b
    // same order as the Redis pipeline: the crash index covers the entries before they are written
    b.index.set(this.instanceId, { users: new Set(input.index.users), rooms: new Set(input.index.rooms) })
    const now = b.now()
    const prev = b.instances.get(this.instanceId)
    const wasGone = prev === undefined || prev.expiresAt <= now
    b.instances.set(this.instanceId, { expiresAt: now + this.ttlMs, stats: { ...input.stats } })
    for (const [userId, sids] of input.users) this.#userChange(userId, 'sync', this.#prefix, sids)
    for (const [roomId, members] of input.rooms) this.#roomChange(roomId, 'sync', this.#prefix, members)
    const exp = b.now() + this.ttlMs
    for (const u of input.online) b.online.set(u, exp)
    return { wasGone }
  }

  async sweep (): Promise<SweepResult> {
    const b = this.#b
    const now = b.now()
    const dead: string[] = []
    for (const [id, inst] of b.instances) {
      if (inst.expiresAt <= now && id !== this.instanceId) dead.push(id)
      if (dead.length >= DEAD_PER_SWEEP) break
    }
    const result: SweepResult = { instances: [], edges: 0 }
    for (const id of dead) {
      // the claim: only one survivor sweeps a dead instance; its lease covers a sweeper that dies
      const lock = b.locks.get(id)
      const inst = b.instances.get(id)
      if (inst === undefined || inst.expiresAt > b.now()) continue
      if (lock !== undefined && lock.expiresAt > b.now()) continue
      b.locks.set(id, { owner: this.instanceId, expiresAt: b.now() + SWEEP_LEASE_MS })
      result.edges += this.#sweepInstance(id)
      const after = b.instances.get(id)
      if (after !== undefined && after.expiresAt <= b.now()) {
        b.instances.delete(id)
        b.index.delete(id)
      }
      b.locks.delete(id)
      result.instances.push(id)
    }
    return result
  }

  async removeInstance (): Promise<void> {
    this.#sweepInstance(this.instanceId)
    this.#b.instances.delete(this.instanceId)
    this.#b.index.delete(this.instanceId)
  }

  async get (userId: string): Promise<PresenceState> {
    return this.#read(userId)
  }

  async query (userIds: readonly string[]): Promise<PresenceState[]> {
    return userIds.map(u => this.#read(u))
  }

  async roomMembers (roomId: string): Promise<RoomMember[]> {
    const room = this.#b.rooms.get(roomId)
    if (room === undefined) return []
    const live = this.#liveInstances()
    const counts = new Map<string, number>()
    for (const [entry, userId] of room.conns) {
      if (!live.has(entry.slice(0, entry.indexOf(ENTRY_SEPARATOR)))) continue
      counts.set(userId, (counts.get(userId) ?? 0) + 1)
    }
    return [...counts].map(([userId, connections]) => ({ userId, connections })).sort(byUserId)
  }

  async stats (): Promise<ClusterStats> {
    const b = this.#b
    const now = b.now()
    const instances = [...b.instances.values()].filter(i => i.expiresAt > now).map(i => ({ ...i.stats }))
    instances.sort((x, y) => x.id < y.id ? -1 : x.id > y.id ? 1 : 0)
    let onlineUsers = 0
    for (const [u, exp] of b.online) {
      if (exp > now) onlineUsers++
      else b.online.delete(u)
    }
    return { instances, onlineUsers }
  }

  onPresence (listener: PresenceListener): void {
    this.#b.presenceListeners.add(listener)
    this.#mine.push(listener)
  }

  onRoomPresence (listener: RoomPresenceListener): void {
    this.#b.roomListeners.add(listener)
    this.#mine.push(listener)
  }

  async ready (): Promise<void> {}

  async close (): Promise<void> {
    for (const l of this.#mine) {
      this.#b.presenceListeners.delete(l as PresenceListener)
      this.#b.roomListeners.delete(l as RoomPresenceListener)
    }
    this.#mine.length = 0
  }

  /** Removes every entry of an instance (dead, or this one shutting down); returns the edges. */
  #sweepInstance (id: string): number {
    const idx = this.#b.index.get(id)
    if (idx === undefined) return 0
    const prefix = id + ENTRY_SEPARATOR
    let edges = 0
    for (const u of idx.users) if (this.#userChange(u, 'sync', prefix, []).edge !== null) edges++
    for (const r of idx.rooms) edges += this.#roomChange(r, 'sync', prefix, []).length
    return edges
  }

  #indexOf (id: string): { users: Set<string>, rooms: Set<string> } {
    let idx = this.#b.index.get(id)
    if (idx === undefined) this.#b.index.set(id, (idx = { users: new Set(), rooms: new Set() }))
    return idx
  }

  #liveInstances (): Set<string> {
    const now = this.#b.now()
    const live = new Set<string>()
    for (const [id, inst] of this.#b.instances) if (inst.expiresAt > now) live.add(id)
    return live
  }

  #read (userId: string): PresenceState {
    const rec = this.#b.users.get(userId)
    if (rec === undefined) return offlineState(userId)
    const now = this.#b.now()
    let live = 0
    let lastExpired = -Infinity
    for (const exp of rec.conns.values()) {
      if (exp > now) live++
      else lastExpired = Math.max(lastExpired, exp)
    }
    let seen = rec.seen
    // entries of a dead instance not swept yet: last refreshed at expiry - TTL
    if (live === 0 && lastExpired > -Infinity) seen = Math.max(seen ?? 0, lastExpired - this.ttlMs)
    return presenceState(userId, live, now, seen)
  }

  /** Mirrors the Redis `sbPresence` script (see there for the modes). */
  #userChange (userId: string, mode: 'add' | 'del' | 'sync', prefix: string, sids: readonly string[]): PresenceChange {
    const b = this.#b
    const now = b.now()
    let rec = b.users.get(userId)
    if (rec === undefined) {
      // nothing to remove from a user the registry has never seen
      if (mode === 'del' || sids.length === 0) return { edge: null, connections: 0 }
      rec = { conns: new Map(), on: false, seen: null }
      b.users.set(userId, rec)
    }
    for (const [e, exp] of rec.conns) if (exp <= now) rec.conns.delete(e)
    if (mode === 'sync') {
      const keep = new Set(sids.map(s => prefix + s))
      for (const e of rec.conns.keys()) if (e.startsWith(prefix) && !keep.has(e)) rec.conns.delete(e)
    }
    if (mode === 'del') {
      for (const s of sids) rec.conns.delete(prefix + s)
    } else {
      for (const s of sids) rec.conns.set(prefix + s, now + this.ttlMs)
    }
    const n = rec.conns.size
    let edge: PresenceState | null = null
    if (n > 0 && !rec.on) {
      rec.on = true
      edge = presenceState(userId, n, now, rec.seen)
    } else if (n === 0 && rec.on) {
      rec.on = false
      rec.seen = now
      edge = offlineState(userId, now)
      b.online.delete(userId)
    }
    if (edge !== null) b.publish(edge)
    return { edge, connections: n }
  }

  /** Mirrors the Redis `sbRoomPresence` script; returns the edges in the order published. */
  #roomChange (roomId: string, mode: 'join' | 'leave' | 'sync', prefix: string, members: ReadonlyArray<readonly [string, string]>): RoomPresenceEvent[] {
    const b = this.#b
    let room = b.rooms.get(roomId)
    if (room === undefined) {
      if (mode !== 'join' && (mode === 'leave' || members.length === 0)) return []
      room = { conns: new Map(), users: new Map() }
      b.rooms.set(roomId, room)
    }
    const r = room
    const edges: RoomPresenceEvent[] = []
    const add = (entry: string, userId: string): void => {
      if (r.conns.has(entry)) return
      r.conns.set(entry, userId)
      const n = (r.users.get(userId) ?? 0) + 1
      r.users.set(userId, n)
      if (n === 1) edges.push({ roomId, userId, status: 'joined' })
    }
    const remove = (entry: string): void => {
      const userId = r.conns.get(entry)
      if (userId === undefined) return
      r.conns.delete(entry)
      const n = (r.users.get(userId) ?? 0) - 1
      if (n <= 0) {
        r.users.delete(userId)
        edges.push({ roomId, userId, status: 'left' })
      } else {
        r.users.set(userId, n)
      }
    }
    if (mode === 'sync') {
      const keep = new Set(members.map(([sid]) => prefix + sid))
      for (const e of [...r.conns.keys()]) if (e.startsWith(prefix) && !keep.has(e)) remove(e)
      for (const [sid, userId] of members) add(prefix + sid, userId)
    } else if (mode === 'join') {
      for (const [sid, userId] of members) add(prefix + sid, userId)
    } else {
      for (const [sid] of members) remove(prefix + sid)
    }
    if (r.conns.size === 0) b.rooms.delete(roomId)
    for (const e of edges) b.publishRoom(e)
    return edges
  }
}

function byUserId (a: RoomMember, b: RoomMember): number {
  return a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0
}
