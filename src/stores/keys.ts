/**
 * The one Redis key builder; each suffix names what the key holds. Every key of a room shares
 * the hash tag `{r:<roomId>}` so the Lua scripts that touch several of them stay on one slot in
 * Redis Cluster. Room ids cannot hold braces (SPEC §3 pattern), so the tag is always the room id.
 */
export interface Keys {
  prefix: string
  roomHistory: (roomId: string) => string
  roomMeta: (roomId: string) => string
  /** `sender`: the principal posting on behalf of `userId`, when it is someone else */
  idempotency: (roomId: string, userId: string, clientMsgId: string, sender?: string) => string
  roomReceipts: (roomId: string) => string
  messagesChannel: string
  /** Cluster: a room's own shard channel for its messages (SPUBLISH), in the room's hash tag */
  roomMessagesChannel: (roomId: string) => string
  /** the Socket.IO redis-streams adapter's stream (plugins/socket-io.ts), also written by the history store */
  adapterStream: string
  /** presence registry (src/stores/redis/presence.ts): see the layout there */
  presence: PresenceKeys
  /** a rate-limit counter of a user (SPEC §7), in the user's hash tag `{u:<userId>}` */
  userRateLimit: (userId: string, name: string) => string
  /** a rate-limit counter of a client IP (SPEC §7), in the hash tag `{ip:<addr>}` */
  ipRateLimit: (ip: string, name: string) => string
  /** namespace of the REST limiter's keys (@fastify/rate-limit appends `u:<sub>` / `ip:<addr>`) */
  httpRateLimit: string
}

/**
 * Presence keys. Each Lua script of the registry touches one hash tag: a user's `{u:<userId>}`,
 * a room's `{r:<roomId>}` (shared with its history), an instance's `{i:<instanceId>}`, or the
 * cluster-wide `{g}`. A user id may hold braces; the tag then ends early, but every key of that
 * user is built the same way, so they still share one slot.
 */
export interface PresenceKeys {
  /** ZSET '<instanceId>|<socketId>' → expiresAt (ms): the user's connections */
  userConns: (userId: string) => string
  /** HASH on ('1' while announced online), seen (lastSeenAt ms) */
  userState: (userId: string) => string
  /** HASH '<instanceId>|<socketId>' → userId: connections in the room */
  roomConns: (roomId: string) => string
  /** HASH userId → their connections in the room (decides joined / left) */
  roomUsers: (roomId: string) => string
  /** SET of users / rooms an instance holds entries for: what to sweep if it dies */
  instanceUsers: (instanceId: string) => string
  instanceRooms: (instanceId: string) => string
  /** the lease of the survivor sweeping a dead instance */
  sweepLock: (instanceId: string) => string
  /** ZSET instanceId → expiresAt (ms): live instances */
  instances: string
  /** HASH instanceId → stats JSON, read with `instances` */
  instanceStats: string
  /** ZSET userId → expiresAt (ms): users some instance reports online */
  onlineUsers: string
  /** pub/sub: user edges and room edges, published by the scripts that decide them */
  channel: string
  roomChannel: string
}

export function createKeys (prefix: string): Keys {
  return {
    prefix,
    roomHistory: roomId => `${prefix}{r:${roomId}}:history`,
    roomMeta: roomId => `${prefix}{r:${roomId}}:meta`,
    // ids are length-prefixed so no two tuples can produce the same key; a send on behalf of
    // someone else has its own key space (idemfor), so it never collides with the user's own
    idempotency: (roomId, userId, clientMsgId, sender) => sender === undefined || sender === userId
      ? `${prefix}{r:${roomId}}:idem:${userId.length}:${userId}:${clientMsgId}`
      : `${prefix}{r:${roomId}}:idemfor:${sender.length}:${sender}:${userId.length}:${userId}:${clientMsgId}`,
    roomReceipts: roomId => `${prefix}{r:${roomId}}:receipts`,
    messagesChannel: `${prefix}messages`,
    roomMessagesChannel: roomId => `${prefix}{r:${roomId}}:messages`,
    adapterStream: `${prefix}socket.io`,
    presence: {
      userConns: userId => `${prefix}{u:${userId}}:conns`,
      userState: userId => `${prefix}{u:${userId}}:state`,
      roomConns: roomId => `${prefix}{r:${roomId}}:conns`,
      roomUsers: roomId => `${prefix}{r:${roomId}}:user-counts`,
      instanceUsers: id => `${prefix}{i:${id}}:users`,
      instanceRooms: id => `${prefix}{i:${id}}:rooms`,
      sweepLock: id => `${prefix}{g}:sweep-lock:${id}`,
      instances: `${prefix}{g}:instances`,
      instanceStats: `${prefix}{g}:instance-stats`,
      onlineUsers: `${prefix}{g}:online`,
      channel: `${prefix}presence`,
      roomChannel: `${prefix}room-presence`
    },
    userRateLimit: (userId, name) => `${prefix}{u:${userId}}:rate-limit:${name}`,
    ipRateLimit: (ip, name) => `${prefix}{ip:${ip}}:rate-limit:${name}`,
    httpRateLimit: `${prefix}rate-limit:http:`
  }
}
