/**
 * PresenceStore on Redis. The layout (keys from stores/keys.ts, each script on one hash tag):
 *
 *   {u:<user>}:conns        ZSET  '<instance>|<socket>' → expiresAt   a user's connections
 *   {u:<user>}:state        HASH  on, seen                            last announced edge, lastSeenAt
 *   {r:<room>}:conns        HASH  '<instance>|<socket>' → user        connections in a room
 *   {r:<room>}:user-counts  HASH  user → count                        decides joined / left
 *   {i:<inst>}:users/rooms  SET   what the instance has entries for (its crash index)
 *   {g}:instances           ZSET  instance → expiresAt                live instances
 *   {g}:instance-stats      HASH  instance → stats JSON
 *   {g}:online              ZSET  user → expiresAt                    the online-users count
 *   {g}:sweep-lock:<inst>         the lease of the survivor sweeping a dead instance
 *
 * Every decision is made in Lua and published by the same script (lua/presence.ts), so edges
 * are exactly once and in order per user and per room; expiry runs on Redis' clock. The store
 * is three pieces over one context: the registry (this instance's changes and heartbeat), the
 * sweeper (dead instances), the reads; edges reach listeners through PresenceEdges.
 */
import type { Cluster, Redis } from 'ioredis'
import type { PresenceState } from '../../schemas/common.js'
import type { Keys } from '../keys.js'
import type {
  ClusterStats, HeartbeatInput, HeartbeatResult, PresenceChange, PresenceListener, PresenceStore,
  RoomChange, RoomMember, RoomPresenceListener, SweepResult
} from '../presence.js'
import { storeError } from './errors.js'
import { atDeadline } from './gate.js'
import type { Deadline } from '../../deadline.js'
import { INSTANCE_SCRIPTS } from './lua/instances.js'
import { PRESENCE_SCRIPTS } from './lua/presence.js'
import { defineScripts } from './lua/script.js'
import type { PresenceContext } from './presence-context.js'
import { PresenceEdges } from './presence-edges.js'
import { clusterStats, queryUsers, roomMembers } from './presence-reads.js'
import { PresenceRegistry } from './presence-registry.js'
import { PresenceSweeper } from './presence-sweeper.js'

export interface RedisPresenceOptions {
  client: Redis | Cluster
  /** a connection in subscriber mode, owned by the caller (shared with the history relay) */
  subscriber: Redis | Cluster
  keys: Keys
  instanceId: string
  ttlMs: number
}

/** Runs a store call, mapping what ioredis throws to the error catalog. */
async function guarded<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw storeError(err)
  }
}

export class RedisPresenceStore implements PresenceStore {
  readonly instanceId: string
  readonly ttlMs: number
  readonly #ctx: PresenceContext
  readonly #registry: PresenceRegistry
  readonly #sweeper: PresenceSweeper
  readonly #edges: PresenceEdges

  constructor (opts: RedisPresenceOptions) {
    this.instanceId = opts.instanceId
    this.ttlMs = opts.ttlMs
    this.#ctx = { client: opts.client, keys: opts.keys.presence, instanceId: opts.instanceId, ttlMs: opts.ttlMs }
    defineScripts(opts.client, [...PRESENCE_SCRIPTS, ...INSTANCE_SCRIPTS])
    this.#registry = new PresenceRegistry(this.#ctx)
    this.#sweeper = new PresenceSweeper(this.#ctx)
    this.#edges = new PresenceEdges(opts.subscriber, opts.keys.presence.channel, opts.keys.presence.roomChannel)
  }

  async connect (userId: string, socketId: string): Promise<PresenceChange> {
    return await guarded(async () => await this.#registry.connect(userId, socketId))
  }

  async disconnect (userId: string, socketId: string): Promise<PresenceChange> {
    return await guarded(async () => await this.#registry.disconnect(userId, socketId))
  }

  async joinRoom (roomId: string, userId: string, socketId: string, deadline?: Deadline): Promise<RoomChange> {
    return await guarded(async () => await this.#registry.joinRoom(roomId, userId, socketId, deadline))
  }

  async leaveRoom (roomId: string, userId: string, socketId: string, deadline?: Deadline): Promise<RoomChange> {
    return await guarded(async () => await this.#registry.leaveRoom(roomId, userId, socketId, deadline))
  }

  async heartbeat (input: HeartbeatInput): Promise<HeartbeatResult> {
    return await guarded(async () => await this.#registry.heartbeat(input))
  }

  async sweep (): Promise<SweepResult> {
    return await guarded(async () => await this.#sweeper.sweep())
  }

  async removeInstance (): Promise<void> {
    await guarded(async () => { await this.#sweeper.removeInstance() })
  }

  async get (userId: string, deadline?: Deadline): Promise<PresenceState> {
    return (await this.query([userId], deadline))[0]
  }

  async query (userIds: readonly string[], deadline?: Deadline): Promise<PresenceState[]> {
    return await guarded(async () => await queryUsers(this.#at(deadline), userIds))
  }

  async roomMembers (roomId: string, deadline?: Deadline): Promise<RoomMember[]> {
    return await guarded(async () => await roomMembers(this.#at(deadline), roomId))
  }

  async stats (deadline?: Deadline): Promise<ClusterStats> {
    return await guarded(async () => await clusterStats(this.#at(deadline)))
  }

  /** the context whose client is bound to a request's deadline (src/deadline.ts) */
  #at (deadline: Deadline): PresenceContext {
    return deadline === undefined ? this.#ctx : { ...this.#ctx, client: atDeadline(this.#ctx.client, deadline) }
  }

  onPresence (listener: PresenceListener): void { this.#edges.onPresence(listener) }
  onRoomPresence (listener: RoomPresenceListener): void { this.#edges.onRoomPresence(listener) }

  /** Resolves once the edge subscription is active (or has failed and will be retried). */
  async ready (): Promise<void> { await this.#edges.ready() }

  async close (): Promise<void> {
    this.#edges.close()
    // the connections belong to the redis plugin, which closes them
  }
}
