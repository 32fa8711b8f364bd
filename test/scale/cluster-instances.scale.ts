/**
 * Two (then three) real server processes on a real Redis Cluster (REDIS_CLUSTER_NODES, so the
 * sharded adapter): the delivery matrix (catch-up with `since` on the other instance, the
 * concurrent clientMsgId race, ordering under concurrent senders, receipts), presence across
 * instances including the sweep of a SIGKILLed instance, and the admin stats.
 */
import t from 'tap'
import { startCluster } from '../helpers/redis-cluster.js'
import { spawnServer } from '../helpers/proc.js'
import { http } from '../helpers/app.js'
import { uniquePrefix } from '../helpers/redis.js'
import { connect, ack, collect, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { createKeys } from '../../src/stores/keys.js'
import { LIMITS_OFF } from '../delivery/lib.js'
import { deliveryMatrix } from '../delivery/matrix.js'

const TTL_MS = 1000
const HISTORY_MAX = 40

const cluster = await startCluster()
t.teardown(cluster.close)
const prefix = uniquePrefix('scale-instances')
const env = {
  ...LIMITS_OFF,
  REDIS_CLUSTER_NODES: cluster.nodesEnv,
  REDIS_KEY_PREFIX: prefix,
  HISTORY_MAX_MESSAGES: String(HISTORY_MAX),
  PRESENCE_TTL_MS: String(TTL_MS),
  LOG_LEVEL: 'warn'
}
// one after the other: each start compiles the app, and the machine has two cores
const a = await spawnServer(t, { ...env, INSTANCE_ID: 'a' })
const b = await spawnServer(t, { ...env, INSTANCE_ID: 'b' })
const keys = createKeys(prefix)

deliveryMatrix(t, {
  mode: 'redis-sharded',
  a: a.url,
  b: b.url,
  historyMax: HISTORY_MAX,
  dropHistory: async (roomId) => {
    const key = keys.roomHistory(roomId)
    await cluster.node(await cluster.primaryOf(key)).del(key)
  }
})

t.test('cluster: presence and stats across instances; a SIGKILLed instance is swept', async (t) => {
  const doomed = await spawnServer(t, { ...env, INSTANCE_ID: 'doomed' })
  const reader = token({ sub: 'reader' })
  const watcher = await connect(a.url, token({ sub: 'watcher' }))
  await ack(watcher, 'presence:subscribe', { userIds: ['xena', 'yuri'] })
  const heard = collect(watcher, 'presence')
  const joined = collect(watcher, 'room:presence')
  await ack(watcher, 'room:join', { roomId: 'hall' })
  const xena = await connect(doomed.url, token({ sub: 'xena' }), { reconnection: false })
  await ack(xena, 'room:join', { roomId: 'hall' })
  await connect(b.url, token({ sub: 'yuri' }))
  await until(() => heard.length === 2 && joined.some(e => e.userId === 'xena'))
  t.same(heard.map(e => `${e.userId}:${e.status}`).sort(), ['xena:online', 'yuri:online'], 'edges from two other instances')
  t.same((await http(`${b.url}/v1/rooms/hall/presence`, { token: reader })).body.users.map((u: any) => u.userId), ['watcher', 'xena'])

  const admin = await connect(b.url, token({ sub: 'root', role: 'admin' }), { namespace: '/admin' })
  await until(async () => (await ack(admin, 'stats:get', {})).instances?.length === 3, 5000, 100)
  const stats = await ack(admin, 'stats:get', {})
  t.same(stats.instances.map((i: any) => i.id), ['a', 'b', 'doomed'], 'every instance, from its heartbeat')
  t.match(stats.totals, { onlineUsers: 3 })

  const offline = next(watcher, 'presence', TTL_MS + 5000 + 2000)
  const killedAt = Date.now()
  doomed.proc.kill('SIGKILL')
  t.match(await offline, { userId: 'xena', status: 'offline', connections: 0 })
  const tookMs = Date.now() - killedAt
  t.comment(`SIGKILL → offline event on a cluster: ${tookMs} ms (PRESENCE_TTL_MS=${TTL_MS})`)
  t.ok(tookMs <= TTL_MS + 5000, 'within PRESENCE_TTL_MS + 5 s')
  await until(() => joined.some(e => e.userId === 'xena' && e.status === 'left'), 3000)
  await until(async () => (await ack(admin, 'stats:get', {})).instances?.length === 2, 5000, 100)
  t.match(await http(`${a.url}/v1/presence/yuri`, { token: reader }), { body: { status: 'online', connections: 1 } })
  t.equal(xena.connected, false)
})
