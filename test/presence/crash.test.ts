/**
 * SPEC §8: a crashed instance's connections expire within PRESENCE_TTL_MS + 5 s, with the
 * `offline` events emitted then, by a surviving instance; users who still have a socket on a
 * survivor stay online with no event. A graceful shutdown removes its connections at once.
 */
import t from 'tap'
import { spawnServer } from '../helpers/proc.js'
import { http } from '../helpers/app.js'
import { connect, ack, collect, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

const TTL_MS = 2000
const limitsOff = { RATE_LIMIT_HTTP_MAX: '0', RATE_LIMIT_EVENTS_PER_MINUTE: '0', RATE_LIMIT_CONNECTIONS_PER_10S: '0' }
const reader = token({ sub: 'reader' })

t.test('SIGKILL: the dead instance\'s users go offline within TTL + 5 s; shared users stay online', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('crash'), PRESENCE_TTL_MS: String(TTL_MS), LOG_LEVEL: 'warn', ...limitsOff }
  // one after the other: each start compiles the app, and the machine has two cores
  const doomed = await spawnServer(t, env)
  const survivor = await spawnServer(t, env)

  const watcher = await connect(survivor.url, token({ sub: 'watcher' }))
  await ack(watcher, 'presence:subscribe', { userIds: ['xena', 'yuri', 'sentinel'] })
  const heard = collect(watcher, 'presence')
  const doomedOnly = await Promise.all([1, 2].map(async () => await connect(doomed.url, token({ sub: 'xena' }), { reconnection: false })))
  await connect(doomed.url, token({ sub: 'yuri' }))
  await connect(survivor.url, token({ sub: 'yuri' }))
  await until(() => heard.filter(e => e.status === 'online').length === 2)
  t.match(await http(`${survivor.url}/v1/presence/yuri`, { token: reader }), { body: { status: 'online', connections: 2 } })
  t.match(await http(`${survivor.url}/v1/presence/xena`, { token: reader }), { body: { status: 'online', connections: 2 } })

  const offline = next(watcher, 'presence', TTL_MS + 5000 + 1000)
  const killedAt = Date.now()
  doomed.proc.kill('SIGKILL')
  t.equal(await doomed.exited, 'SIGKILL')
  const edge = await offline
  const tookMs = Date.now() - killedAt
  t.comment(`SIGKILL → offline event: ${tookMs} ms (PRESENCE_TTL_MS=${TTL_MS}; bound ${TTL_MS + 5000} ms)`)
  t.ok(tookMs <= TTL_MS + 5000, 'within PRESENCE_TTL_MS + 5 s')
  t.match(edge, { userId: 'xena', status: 'offline', connections: 0 })
  t.ok(edge.lastSeenAt >= killedAt - TTL_MS && edge.lastSeenAt <= Date.now(), 'lastSeenAt is set')
  for (const s of doomedOnly) t.equal(s.connected, false)

  t.match((await http(`${survivor.url}/v1/presence/xena`, { token: reader })).body, { status: 'offline', connections: 0 })
  t.match((await http(`${survivor.url}/v1/presence/yuri`, { token: reader })).body, { status: 'online', connections: 1 }, 'yuri still has a socket on the survivor')
  const batch = await http(`${survivor.url}/v1/presence/query`, { token: reader, body: { userIds: ['yuri', 'xena'] } })
  t.same(batch.body.users.map((u: any) => `${u.userId}:${u.status}:${u.connections}`), ['yuri:online:1', 'xena:offline:0'])

  // an edge caused now arrives after anything the sweep emitted: no event for yuri
  const sentinelEdge = next(watcher, 'presence')
  const sentinel = await connect(survivor.url, token({ sub: 'sentinel' }))
  t.match(await sentinelEdge, { userId: 'sentinel', status: 'online' })
  t.same(heard.map(e => `${e.userId}:${e.status}`), ['xena:online', 'yuri:online', 'xena:offline', 'sentinel:online'], 'one offline edge for xena, none for yuri')
  sentinel.close()
})

t.test('SIGTERM: a graceful shutdown removes the instance\'s connections at once, not after the TTL', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  // a long TTL: only the drain's cleanup can make these edges arrive quickly
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('drain'), PRESENCE_TTL_MS: '60000', SHUTDOWN_GRACE_MS: '2000', LOG_LEVEL: 'warn', ...limitsOff }
  // one after the other: each start compiles the app, and the machine has two cores
  const leaving = await spawnServer(t, env)
  const staying = await spawnServer(t, env)

  const watcher = await connect(staying.url, token({ sub: 'watcher' }))
  await ack(watcher, 'presence:subscribe', { userIds: ['zoe'] })
  const own = next(watcher, 'room:presence')
  t.same(await ack(watcher, 'room:join', { roomId: 'hall' }), { ok: true, roomId: 'hall' })
  t.same(await own, { roomId: 'hall', userId: 'watcher', status: 'joined' })
  const online = next(watcher, 'presence')
  const joined = next(watcher, 'room:presence')
  const zoe = await connect(leaving.url, token({ sub: 'zoe' }), { reconnection: false })
  t.match(await online, { userId: 'zoe', status: 'online' })
  await ack(zoe, 'room:join', { roomId: 'hall' })
  t.same(await joined, { roomId: 'hall', userId: 'zoe', status: 'joined' })

  const offline = next(watcher, 'presence', 10_000)
  const left = next(watcher, 'room:presence', 10_000)
  const stoppedAt = Date.now()
  t.equal(await leaving.stop('SIGTERM'), 0, 'the drained instance exits 0')
  t.match(await offline, { userId: 'zoe', status: 'offline' })
  t.same(await left, { roomId: 'hall', userId: 'zoe', status: 'left' })
  const tookMs = Date.now() - stoppedAt
  t.comment(`SIGTERM → offline event: ${tookMs} ms (PRESENCE_TTL_MS=60000)`)
  t.ok(tookMs < 10_000, 'long before the TTL')
  t.same((await http(`${staying.url}/v1/rooms/hall/presence`, { token: reader })).body.users, [{ userId: 'watcher', connections: 1 }])
})
