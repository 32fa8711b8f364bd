/**
 * The presence registry's per-user and per-room scripts (SPEC §5, §6). Every decision (online /
 * offline, joined / left) is made here and PUBLISHed, as JSON, by the same script, so edges are
 * exactly once and, per user and per room, in the order they happened. Expiry is measured with
 * Redis' clock. Each script touches one hash tag: a user's or a room's. Entries are
 * '<instance>|<socket>'; each change is composed per mode (connect / disconnect / sync) rather
 * than passed a mode flag.
 */
import { NOW_MS } from './clock.js'
import { locals, type Script, type Slot } from './script.js'

/** The JSON a user edge is published as (the PresenceState of SPEC §5). */
export interface UserEdgeJson { status: 'online' | 'offline', userId: string, connections: number, at: number }
/** The JSON a room edge is published as (the RoomPresenceEvent). */
export interface RoomEdgeJson { status: 'joined' | 'left', roomId: string, userId: string }

/** `[edge, live connections after, now, entries removed (expired or synced away)]` */
export type UserReply = [edge: 'online' | 'offline' | 'none', connections: number, now: number, removed: number]

const USER_KEYS = [
  { name: 'conns', doc: 'the user\'s connections: ZSET entry → expiresAt (ms)' },
  { name: 'state', doc: 'the user\'s state: HASH on (\'1\' while announced online), seen (lastSeenAt ms)' }
] as const satisfies Slot[]
const USER_ARGV = [
  { name: 'ttl', doc: 'entry TTL, ms' },
  { name: 'channel', doc: 'the user-edges channel' },
  { name: 'user_id', doc: 'the user' },
  { name: 'prefix', doc: 'the instance\'s entry prefix \'<instance>|\'' }
] as const satisfies Slot[]
/** ARGV after the named ones: socket ids of that instance */
const SOCKETS_FROM = USER_ARGV.length + 1

// entries past their expiry belong to an instance that stopped refreshing them: dropped first
const USER_HEAD = NOW_MS + `
local now = now_ms()
ttl = tonumber(ttl)
local removed = redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
local function refresh(from)
  if #ARGV < from then return end
  for i = from, #ARGV do redis.call('ZADD', conns, now + ttl, prefix .. ARGV[i]) end
  -- every score is at most now + ttl. Sweeps remove expired entries; this only bounds a key
  -- that nobody sweeps, late enough that reads still find lastSeenAt in its expired entries
  redis.call('PEXPIRE', conns, ttl + 600000)
end
`

// the user is online while any entry is left; when that flips against the last announced edge
// (state.on), the edge is recorded and published
const USER_TAIL = `
local n = redis.call('ZCARD', conns)
local on = redis.call('HGET', state, 'on') == '1'
local edge = 'none'
if n > 0 and not on then
  redis.call('HSET', state, 'on', '1')
  edge = 'online'
elseif n == 0 and on then
  redis.call('HSET', state, 'on', '0', 'seen', now)
  edge = 'offline'
end
if edge ~= 'none' then
  redis.call('PUBLISH', channel, cjson.encode({ status = edge, userId = user_id, connections = n, at = now }))
end
return { edge, n, now, removed }
`

const userScript = (name: string, doc: string, body: string): Script => ({
  name,
  numberOfKeys: USER_KEYS.length,
  lua: locals(USER_KEYS, USER_ARGV) + `-- ARGV[${SOCKETS_FROM}..]: ${doc}\n` + USER_HEAD + body + USER_TAIL
})

/** sbUserConnect: adds / refreshes the instance's entries of the user. */
export const USER_CONNECT = userScript('sbUserConnect', 'socket ids to add or refresh', `
refresh(${SOCKETS_FROM})
`)

/** sbUserDisconnect: removes the instance's entries of the user. */
export const USER_DISCONNECT = userScript('sbUserDisconnect', 'socket ids to remove', `
for i = ${SOCKETS_FROM}, #ARGV do redis.call('ZREM', conns, prefix .. ARGV[i]) end
`)

/**
 * sbUserSync: the instance's complete set of the user's sockets (possibly none): its other
 * entries are removed, these refreshed. Heartbeats and sweeps (with a dead instance's prefix).
 */
export const USER_SYNC = userScript('sbUserSync', 'the instance\'s complete set of the user\'s socket ids', `
local keep = {}
for i = ${SOCKETS_FROM}, #ARGV do keep[prefix .. ARGV[i]] = true end
for _, m in ipairs(redis.call('ZRANGE', conns, 0, -1)) do
  if string.sub(m, 1, #prefix) == prefix and not keep[m] then removed = removed + redis.call('ZREM', conns, m) end
end
refresh(${SOCKETS_FROM})
`)

/** `[live connections, lastSeenAt or -1, now]` */
export type UserReadReply = [connections: number, seen: number, now: number]

/**
 * sbUserRead: a user's state. With no live entry but expired ones not swept yet, the newest of
 * those was last refreshed at its expiry - ttl: that is lastSeenAt.
 */
export const USER_READ: Script = {
  name: 'sbUserRead',
  numberOfKeys: USER_KEYS.length,
  lua: locals(USER_KEYS, [USER_ARGV[0]]) + NOW_MS + `
local now = now_ms()
local n = redis.call('ZCOUNT', conns, '(' .. now, '+inf')
local seen = tonumber(redis.call('HGET', state, 'seen')) or -1
if n == 0 then
  local last = redis.call('ZREVRANGE', conns, 0, 0, 'WITHSCORES')
  if last[2] then
    local s = tonumber(last[2]) - tonumber(ttl)
    if s > seen then seen = s end
  end
end
return { n, seen, now }
`
}

/** The room edges a change caused, in the order published: `[status, userId]` each. */
export type RoomReply = Array<[status: 'joined' | 'left', userId: string]>

const ROOM_KEYS = [
  { name: 'room_conns', doc: 'connections in the room: HASH entry → user id' },
  { name: 'room_users', doc: 'HASH user id → their connections in the room (decides joined / left)' }
] as const satisfies Slot[]
const ROOM_ARGV = [
  { name: 'channel', doc: 'the room-edges channel' },
  { name: 'room_id', doc: 'the room' },
  { name: 'prefix', doc: 'the instance\'s entry prefix \'<instance>|\'' }
] as const satisfies Slot[]
const PAIRS_FROM = ROOM_ARGV.length + 1

// a user's first connection in the room is `joined`, the last one out `left`
const ROOM_HEAD = `
local edges = {}
local function publish(status, user)
  redis.call('PUBLISH', channel, cjson.encode({ status = status, roomId = room_id, userId = user }))
  edges[#edges + 1] = { status, user }
end
local function add(field, user)
  if redis.call('HSETNX', room_conns, field, user) == 1 then
    if redis.call('HINCRBY', room_users, user, 1) == 1 then publish('joined', user) end
  end
end
local function remove(field)
  local user = redis.call('HGET', room_conns, field)
  if not user then return end
  redis.call('HDEL', room_conns, field)
  if redis.call('HINCRBY', room_users, user, -1) <= 0 then
    redis.call('HDEL', room_users, user)
    publish('left', user)
  end
end
`

const roomScript = (name: string, doc: string, body: string): Script => ({
  name,
  numberOfKeys: ROOM_KEYS.length,
  lua: locals(ROOM_KEYS, ROOM_ARGV) + `-- ARGV[${PAIRS_FROM}..]: ${doc}\n` + ROOM_HEAD + body + `
return edges
`
})

/** sbRoomJoin: connections of the instance join the room. */
export const ROOM_JOIN = roomScript('sbRoomJoin', 'pairs socket id, user id', `
for i = ${PAIRS_FROM}, #ARGV, 2 do add(prefix .. ARGV[i], ARGV[i + 1]) end
`)

/** sbRoomLeave: connections of the instance leave the room. */
export const ROOM_LEAVE = roomScript('sbRoomLeave', 'pairs socket id, user id', `
for i = ${PAIRS_FROM}, #ARGV, 2 do remove(prefix .. ARGV[i]) end
`)

/** sbRoomSync: the instance's complete set of connections in the room; its other entries are removed. */
export const ROOM_SYNC = roomScript('sbRoomSync', 'pairs socket id, user id: the instance\'s complete set', `
local keep = {}
for i = ${PAIRS_FROM}, #ARGV, 2 do keep[prefix .. ARGV[i]] = true end
for _, f in ipairs(redis.call('HKEYS', room_conns)) do
  if string.sub(f, 1, #prefix) == prefix and not keep[f] then remove(f) end
end
for i = ${PAIRS_FROM}, #ARGV, 2 do add(prefix .. ARGV[i], ARGV[i + 1]) end
`)

export const PRESENCE_SCRIPTS = [USER_CONNECT, USER_DISCONNECT, USER_SYNC, USER_READ, ROOM_JOIN, ROOM_LEAVE, ROOM_SYNC]
