/**
 * The instance-level scripts of the presence registry: liveness and stats, the crash index a
 * survivor sweeps from, the online-users count, and the claim that lets exactly one survivor
 * sweep a dead instance. Instance keys share the `{i:<instance>}` tag, cluster-wide ones `{g}`.
 */
import { NOW_MS } from './clock.js'
import { locals, type Script, type Slot } from './script.js'

const INDEX_KEYS = [
  { name: 'index_users', doc: 'SET of users the instance holds entries for' },
  { name: 'index_rooms', doc: 'SET of rooms it holds entries for' }
] as const satisfies Slot[]
const INDEX_ARGV = [{ name: 'user_count', doc: 'n: ARGV[2..n+1] are user ids, the rest room ids' }] as const satisfies Slot[]

/** sbInstanceIndex: replaces an instance's crash index in one step (never seen empty). */
export const INSTANCE_INDEX: Script = {
  name: 'sbInstanceIndex',
  numberOfKeys: INDEX_KEYS.length,
  lua: locals(INDEX_KEYS, INDEX_ARGV) + `-- ARGV[2..]: the user ids, then the room ids
redis.call('DEL', index_users, index_rooms)
local n = tonumber(user_count)
local function add_all(key, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 999, to)
    redis.call('SADD', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
add_all(index_users, 2, n + 1)
add_all(index_rooms, n + 2, #ARGV)
return 'ok'
`
}

const LIVENESS_KEYS = [
  { name: 'instances', doc: 'ZSET instance id → expiresAt (ms): live instances' },
  { name: 'stats', doc: 'HASH instance id → stats JSON' }
] as const satisfies Slot[]

/** `live`: the instance had a live entry; `returned`: its first beat, or it was presumed dead. */
export type BeatReply = 'live' | 'returned'

/** sbInstanceBeat: an instance's liveness and stats. */
export const INSTANCE_BEAT: Script = {
  name: 'sbInstanceBeat',
  numberOfKeys: LIVENESS_KEYS.length,
  lua: locals(LIVENESS_KEYS, [
    { name: 'instance_id', doc: 'the beating instance' },
    { name: 'ttl', doc: 'liveness TTL, ms' },
    { name: 'stats_json', doc: 'its stats' }
  ]) + NOW_MS + `
local now = now_ms()
local prev = redis.call('ZSCORE', instances, instance_id)
redis.call('ZADD', instances, now + tonumber(ttl), instance_id)
redis.call('HSET', stats, instance_id, stats_json)
if prev and tonumber(prev) > now then return 'live' end
return 'returned'
`
}

const ONLINE_KEYS = [{ name: 'online', doc: 'ZSET user id → expiresAt (ms): users some instance reports online' }] as const satisfies Slot[]
const ONLINE_ARGV = [{ name: 'ttl', doc: 'TTL, ms' }] as const satisfies Slot[]
const PRUNE = `
redis.call('ZREMRANGEBYSCORE', online, '-inf', now)
return 'ok'
`

/** sbOnlineAdd: users a heartbeat or an online edge reports online (ARGV[2..]); prunes expired ones. */
export const ONLINE_ADD: Script = {
  name: 'sbOnlineAdd',
  numberOfKeys: ONLINE_KEYS.length,
  lua: locals(ONLINE_KEYS, ONLINE_ARGV) + '-- ARGV[2..]: user ids reported online\n' + NOW_MS + `
local now = now_ms()
for i = 2, #ARGV do redis.call('ZADD', online, now + tonumber(ttl), ARGV[i]) end
` + PRUNE
}

/** sbOnlineRemove: users an offline edge took out (ARGV[2..]); prunes expired ones. */
export const ONLINE_REMOVE: Script = {
  name: 'sbOnlineRemove',
  numberOfKeys: ONLINE_KEYS.length,
  lua: locals(ONLINE_KEYS, ONLINE_ARGV) + '-- ARGV[2..]: user ids gone offline\n' + NOW_MS + `
local now = now_ms()
for i = 2, #ARGV do redis.call('ZREM', online, ARGV[i]) end
` + PRUNE
}

/** sbInstancesDead: ids of instances whose heartbeat stopped. */
export const INSTANCES_DEAD: Script = {
  name: 'sbInstancesDead',
  numberOfKeys: 1,
  lua: locals([LIVENESS_KEYS[0]], [{ name: 'max', doc: 'most to return' }]) + NOW_MS + `
return redis.call('ZRANGEBYSCORE', instances, '-inf', now_ms(), 'LIMIT', 0, tonumber(max))
`
}

/** `claimed`: this survivor sweeps it; `not_claimed`: it is live again or someone else holds the lease. */
export type ClaimReply = 'claimed' | 'not_claimed'

/**
 * sbInstanceClaim: the atomic claim on a dead instance, so one survivor sweeps it. The lease
 * lets another survivor take over if the claimant dies mid-sweep.
 */
export const INSTANCE_CLAIM: Script = {
  name: 'sbInstanceClaim',
  numberOfKeys: 2,
  lua: locals([LIVENESS_KEYS[0], { name: 'lock', doc: 'the dead instance\'s sweep lock' }], [
    { name: 'dead_id', doc: 'the dead instance' },
    { name: 'claimant', doc: 'this instance' },
    { name: 'lease', doc: 'lease ms' }
  ]) + NOW_MS + `
local s = redis.call('ZSCORE', instances, dead_id)
if not s or tonumber(s) > now_ms() then return 'not_claimed' end
if redis.call('SET', lock, claimant, 'NX', 'PX', tonumber(lease)) then return 'claimed' end
return 'not_claimed'
`
}

/** `removed`; or `came_back`: the instance beat again meanwhile (it stalled rather than died) and keeps its entry. */
export type GoneReply = 'removed' | 'came_back'

const GONE_KEYS = [...LIVENESS_KEYS, { name: 'lock', doc: 'its sweep lock' }] as const satisfies Slot[]
const GONE_ARGV = [{ name: 'instance_id', doc: 'the instance' }] as const satisfies Slot[]
const FORGET = `
redis.call('ZREM', instances, instance_id)
redis.call('HDEL', stats, instance_id)
return 'removed'
`

/** sbInstanceSwept: forgets a swept dead instance, unless it came back (it then rewrites its state on its next beats). */
export const INSTANCE_SWEPT: Script = {
  name: 'sbInstanceSwept',
  numberOfKeys: GONE_KEYS.length,
  lua: locals(GONE_KEYS, GONE_ARGV) + NOW_MS + `
local s = redis.call('ZSCORE', instances, instance_id)
redis.call('DEL', lock)
if s and tonumber(s) > now_ms() then return 'came_back' end
` + FORGET
}

/** sbInstanceLeave: this instance shutting down forgets itself. */
export const INSTANCE_LEAVE: Script = {
  name: 'sbInstanceLeave',
  numberOfKeys: GONE_KEYS.length,
  lua: locals(GONE_KEYS, GONE_ARGV) + `
redis.call('DEL', lock)
` + FORGET
}

/** `[online users, [[instance id, stats JSON or ''], …] ordered by id]` */
export type LiveReply = [onlineUsers: number, instances: Array<[id: string, stats: string]>]

/** sbInstancesLive: live instances with their stats, and the online-users count. */
export const INSTANCES_LIVE: Script = {
  name: 'sbInstancesLive',
  numberOfKeys: 3,
  lua: locals([...LIVENESS_KEYS, ONLINE_KEYS[0]], []) + NOW_MS + `
local now = now_ms()
local live = {}
local ids = redis.call('ZRANGEBYSCORE', instances, '(' .. now, '+inf')
table.sort(ids)
for _, id in ipairs(ids) do live[#live + 1] = { id, redis.call('HGET', stats, id) or '' } end
return { redis.call('ZCOUNT', online, '(' .. now, '+inf'), live }
`
}

export const INSTANCE_SCRIPTS = [
  INSTANCE_INDEX, INSTANCE_BEAT, ONLINE_ADD, ONLINE_REMOVE, INSTANCES_DEAD, INSTANCE_CLAIM,
  INSTANCE_SWEPT, INSTANCE_LEAVE, INSTANCES_LIVE
]
