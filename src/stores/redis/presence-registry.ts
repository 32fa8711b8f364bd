/**
 * The registry half of the Redis presence store: this instance's connections and room
 * memberships as they change, and the heartbeat that rewrites them all. Each change is one
 * script that decides and publishes its edge (lua/presence.ts).
 */
import { ENTRY_SEPARATOR, type HeartbeatInput, type HeartbeatResult, type PresenceChange, type RoomChange } from '../presence.js'
import { SlicedBatch } from './batch.js'
import { atDeadline } from './gate.js'
import type { Deadline } from '../../deadline.js'
import { forgetOffline, ONLINE_CHUNK, toChange, type PresenceContext } from './presence-context.js'
import type { RoomReply, UserReply } from './lua/presence.js'
import type { BeatReply } from './lua/instances.js'

export class PresenceRegistry {
  readonly #ctx: PresenceContext
  readonly #prefix: string

  constructor (ctx: PresenceContext) {
    this.#ctx = ctx
    this.#prefix = ctx.instanceId + ENTRY_SEPARATOR
  }

  async connect (userId: string, socketId: string): Promise<PresenceChange> {
    const { client, keys: k, instanceId, ttlMs } = this.#ctx
    // issued in this order on one connection: the crash index names the user before the
    // entry exists, so an instance dying right after still gets the entry swept
    const [, r] = await Promise.all([
      client.sadd(k.instanceUsers(instanceId), userId),
      client.sbUserConnect(k.userConns(userId), k.userState(userId), ttlMs, k.channel, userId, this.#prefix, socketId),
      client.sbOnlineAdd(k.onlineUsers, ttlMs, userId)
    ])
    return toChange(userId, r)
  }

  async disconnect (userId: string, socketId: string): Promise<PresenceChange> {
    const { client, keys: k, ttlMs } = this.#ctx
    const change = toChange(userId, await client.sbUserDisconnect(k.userConns(userId), k.userState(userId), ttlMs, k.channel, userId, this.#prefix, socketId))
    if (change.edge?.status === 'offline') await client.sbOnlineRemove(k.onlineUsers, ttlMs, userId)
    return change
  }

  async joinRoom (roomId: string, userId: string, socketId: string, deadline?: Deadline): Promise<RoomChange> {
    const { keys: k, instanceId } = this.#ctx
    const client = atDeadline(this.#ctx.client, deadline)
    const [, edges] = await Promise.all([
      client.sadd(k.instanceRooms(instanceId), roomId),
      client.sbRoomJoin(k.roomConns(roomId), k.roomUsers(roomId), k.roomChannel, roomId, this.#prefix, socketId, userId)
    ])
    return firstEdge(roomId, edges)
  }

  async leaveRoom (roomId: string, userId: string, socketId: string, deadline?: Deadline): Promise<RoomChange> {
    const { keys: k } = this.#ctx
    const client = atDeadline(this.#ctx.client, deadline)
    return firstEdge(roomId, await client.sbRoomLeave(k.roomConns(roomId), k.roomUsers(roomId), k.roomChannel, roomId, this.#prefix, socketId, userId))
  }

  /**
   * One beat: the crash index first, then liveness, users, rooms, the online count, in slices
   * of SLICE commands (one round trip each), so a beat over thousands of users never holds
   * Redis long enough to delay the messages sent meanwhile.
   */
  async heartbeat (input: HeartbeatInput): Promise<HeartbeatResult> {
    const { client, keys: k, instanceId: me, ttlMs: ttl } = this.#ctx
    const b = new SlicedBatch(client)
    // the index first: it must name every user and room before their entries are written
    b.add(c => c.sbInstanceIndex(k.instanceUsers(me), k.instanceRooms(me), input.index.users.length, ...input.index.users, ...input.index.rooms))
    const beat = b.add<BeatReply>(c => c.sbInstanceBeat(k.instances, k.instanceStats, me, ttl, JSON.stringify(input.stats)))
    const users: Array<Promise<UserReply>> = input.users.map(([userId, sids]) =>
      b.add<UserReply>(c => c.sbUserSync(k.userConns(userId), k.userState(userId), ttl, k.channel, userId, this.#prefix, ...sids)))
    for (const [roomId, members] of input.rooms) {
      b.add(c => c.sbRoomSync(k.roomConns(roomId), k.roomUsers(roomId), k.roomChannel, roomId, this.#prefix, ...members.flat()))
    }
    for (let i = 0; i < input.online.length; i += ONLINE_CHUNK) {
      const chunk = input.online.slice(i, i + ONLINE_CHUNK)
      b.add(c => c.sbOnlineAdd(k.onlineUsers, ttl, ...chunk))
    }
    await b.run()
    await forgetOffline(this.#ctx, input.users.map(([u]) => u), await Promise.all(users))
    return { wasGone: await beat === 'returned' }
  }
}

function firstEdge (roomId: string, edges: RoomReply): RoomChange {
  const [first] = edges
  return { edge: first === undefined ? null : { roomId, userId: first[1], status: first[0] } }
}
