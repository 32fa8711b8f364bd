/**
 * In-process PresenceStore for the single-instance mode (no REDIS_URL). One process is the
 * whole deployment, so there is nothing to expire or sweep: an entry lives until its socket
 * goes, `sweep` finds no dead instance, and the heartbeat only rewrites (repairs) this
 * instance's entries and stats. Each method runs without an `await` in the middle, so edges
 * are decided atomically and published in order, as the Redis store's scripts do.
 */
import type { PresenceState } from '../../schemas/common.js'
import {
  offlineState, presenceState,
  type ClusterStats, type HeartbeatInput, type HeartbeatResult, type InstanceStats,
  type PresenceChange, type PresenceListener, type PresenceStore, type RoomChange,
  type RoomMember, type RoomPresenceEvent, type RoomPresenceListener, type SweepResult
} from '../presence.js'

interface UserRecord {
  sockets: Set<string>
  /** when the last connection went (lastSeenAt of an offline user) */
  seen: number | null
}

export interface MemoryPresenceOptions {
  instanceId: string
  /** kept for the tracker's periods; nothing expires in one process */
  ttlMs: number
  now?: () => number
}

export class MemoryPresenceStore implements PresenceStore {
  readonly instanceId: string
  readonly ttlMs: number
  readonly #now: () => number
  readonly #users = new Map<string, UserRecord>()
  /** roomId → userId → that user's sockets in the room */
  readonly #rooms = new Map<string, Map<string, Set<string>>>()
  /** this instance's stats as of its last heartbeat; undefined before the first one */
  #stats: InstanceStats | undefined
  readonly #listeners: PresenceListener[] = []
  readonly #roomListeners: RoomPresenceListener[] = []

  constructor (opts: MemoryPresenceOptions) {
    this.instanceId = opts.instanceId
    this.ttlMs = opts.ttlMs
    this.#now = opts.now ?? Date.now
  }

  async connect (userId: string, socketId: string): Promise<PresenceChange> {
    return this.#setSockets(userId, s => s.add(socketId))
  }

  async disconnect (userId: string, socketId: string): Promise<PresenceChange> {
    return this.#setSockets(userId, s => s.delete(socketId))
  }

  async joinRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    return { edge: this.#join(roomId, userId, socketId) }
  }

  async leaveRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    return { edge: this.#leave(roomId, userId, socketId) }
  }

  async heartbeat (input: HeartbeatInput): Promise<HeartbeatResult> {
    const wasGone = this.#stats === undefined
    this.#stats = { ...input.stats }
    for (const [userId, sids] of input.users) {
      this.#setSockets(userId, s => {
        s.clear()
        for (const sid of sids) s.add(sid)
      })
    }
    for (const [roomId, members] of input.rooms) {
      const keep = new Set(members.map(([sid]) => sid))
      for (const [userId, sids] of [...(this.#rooms.get(roomId) ?? [])]) {
        for (const sid of [...sids]) if (!keep.has(sid)) this.#leave(roomId, userId, sid)
      }
      for (const [sid, userId] of members) this.#join(roomId, userId, sid)
    }
    return { wasGone }
  }

  async sweep (): Promise<SweepResult> {
    return { instances: [], edges: 0 }
  }

  async removeInstance (): Promise<void> {
    for (const userId of [...this.#users.keys()]) this.#setSockets(userId, s => s.clear())
    for (const [roomId, users] of [...this.#rooms]) {
      for (const [userId, sids] of [...users]) for (const sid of [...sids]) this.#leave(roomId, userId, sid)
    }
    this.#stats = undefined
  }

  async get (userId: string): Promise<PresenceState> {
    return this.#read(userId)
  }

  async query (userIds: readonly string[]): Promise<PresenceState[]> {
    return userIds.map(u => this.#read(u))
  }

  async roomMembers (roomId: string): Promise<RoomMember[]> {
    const users = this.#rooms.get(roomId) ?? new Map<string, Set<string>>()
    return [...users].map(([userId, sids]) => ({ userId, connections: sids.size }))
      .sort((a, b) => a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)
  }

  async stats (): Promise<ClusterStats> {
    let onlineUsers = 0
    for (const rec of this.#users.values()) if (rec.sockets.size > 0) onlineUsers++
    return { instances: this.#stats === undefined ? [] : [{ ...this.#stats }], onlineUsers }
  }

  onPresence (listener: PresenceListener): void {
    this.#listeners.push(listener)
  }

  onRoomPresence (listener: RoomPresenceListener): void {
    this.#roomListeners.push(listener)
  }

  async ready (): Promise<void> {}

  async close (): Promise<void> {
    this.#listeners.length = 0
    this.#roomListeners.length = 0
  }

  #read (userId: string): PresenceState {
    const rec = this.#users.get(userId)
    if (rec === undefined) return offlineState(userId)
    return presenceState(userId, rec.sockets.size, this.#now(), rec.seen)
  }

  /** Changes a user's sockets and decides the online / offline edge. */
  #setSockets (userId: string, change: (sockets: Set<string>) => void): PresenceChange {
    let rec = this.#users.get(userId)
    const created = rec === undefined
    if (rec === undefined) rec = { sockets: new Set(), seen: null }
    const wasOnline = rec.sockets.size > 0
    change(rec.sockets)
    const n = rec.sockets.size
    // nothing to remember of a user the registry has never seen and who has no socket
    if (created && n === 0) return { edge: null, connections: 0 }
    this.#users.set(userId, rec)
    let edge: PresenceState | null = null
    const now = this.#now()
    if (n > 0 && !wasOnline) {
      edge = presenceState(userId, n, now, rec.seen)
    } else if (n === 0 && wasOnline) {
      rec.seen = now
      edge = offlineState(userId, now)
    }
    if (edge !== null) for (const l of this.#listeners) { try { l(edge) } catch {} }
    return { edge, connections: n }
  }

  #join (roomId: string, userId: string, socketId: string): RoomPresenceEvent | null {
    let users = this.#rooms.get(roomId)
    if (users === undefined) this.#rooms.set(roomId, (users = new Map()))
    let sids = users.get(userId)
    if (sids === undefined) users.set(userId, (sids = new Set()))
    if (sids.has(socketId)) return null
    sids.add(socketId)
    return sids.size === 1 ? this.#publishRoom({ roomId, userId, status: 'joined' }) : null
  }

  #leave (roomId: string, userId: string, socketId: string): RoomPresenceEvent | null {
    const users = this.#rooms.get(roomId)
    const sids = users?.get(userId)
    if (users === undefined || sids === undefined || !sids.delete(socketId)) return null
    if (sids.size > 0) return null
    users.delete(userId)
    if (users.size === 0) this.#rooms.delete(roomId)
    return this.#publishRoom({ roomId, userId, status: 'left' })
  }

  #publishRoom (event: RoomPresenceEvent): RoomPresenceEvent {
    for (const l of this.#roomListeners) { try { l(event) } catch {} }
    return event
  }
}
