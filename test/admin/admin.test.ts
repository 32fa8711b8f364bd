/**
 * Namespace `/admin` (SPEC §5): only `admin` principals connect; `stats:get` answers from the
 * instances' heartbeat entries in Redis (never by asking the other instances), so it answers
 * promptly when one of them was SIGKILLed; `user:disconnect` reaches every instance.
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { spawnServer } from '../helpers/proc.js'
import { connect, ack } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

const limitsOff = { RATE_LIMIT_HTTP_MAX: '0', RATE_LIMIT_EVENTS_PER_MINUTE: '0', RATE_LIMIT_CONNECTIONS_PER_10S: '0' }
const adminToken = token({ sub: 'ops', role: 'admin' })

t.test('only admin principals may connect to /admin', async (t) => {
  const { url } = await startApp(t, limitsOff)
  for (const [label, tok, code] of [
    ['a user', token({ sub: 'u' }), 'forbidden'],
    ['a service', token({ sub: 'svc', role: 'service' }), 'forbidden'],
    ['no token', undefined, 'unauthorized']
  ] as const) {
    const err = await connect(url, tok, { namespace: '/admin' }).then(() => undefined, (e: Error & { data?: unknown }) => e)
    t.equal(err?.message, code, `${label}: connect_error ${code}`)
    t.match(err?.data, { code }, 'data carries the code')
  }
  const admin = await connect(url, adminToken, { namespace: '/admin' })
  t.equal(admin.connected, true)
})

t.test('stats:get and user:disconnect in one instance', async (t) => {
  const { url } = await startApp(t, { ...limitsOff, INSTANCE_ID: 'solo' })
  const a1 = await connect(url, token({ sub: 'amy' }))
  const a2 = await connect(url, token({ sub: 'amy' }))
  const ben = await connect(url, token({ sub: 'ben' }))
  await ack(a1, 'room:join', { roomId: 'r1' })
  await ack(ben, 'room:join', { roomId: 'r2' })
  const admin = await connect(url, adminToken, { namespace: '/admin' })

  const stats = await ack(admin, 'stats:get', {})
  t.match(stats, {
    ok: true,
    instances: [{ id: 'solo', connections: 3, rooms: 2, uptimeS: Number, rssBytes: Number }],
    totals: { connections: 3, onlineUsers: 2 }
  })
  t.ok(stats.instances[0].rssBytes > 1_000_000, 'rssBytes is the process\'s resident memory')
  t.same(Object.keys(stats.instances[0]).sort(), ['connections', 'id', 'rooms', 'rssBytes', 'uptimeS'])
  t.match(await ack(admin, 'stats:get'), { ok: true, totals: { connections: 3 } }, 'the payload may be left out')
  t.equal((await ack(admin, 'stats:get', { x: 1 })).error?.code, 'invalid_payload')
  t.equal((await ack(admin, 'nope', {})).error?.code, 'not_found', 'unknown events are not_found')

  for (const bad of [{}, { userId: '' }, { userId: 'amy', reason: 7 }, { userId: 'amy', extra: true }]) {
    t.equal((await ack(admin, 'user:disconnect', bad)).error?.code, 'invalid_payload', JSON.stringify(bad))
  }
  const closed = [a1, a2].map(async s => await new Promise<string>(resolve => s.once('disconnect', resolve)))
  t.same(await ack(admin, 'user:disconnect', { userId: 'amy', reason: 'abuse report 42' }), { ok: true, disconnected: 2 })
  t.same(await Promise.all(closed), ['io server disconnect', 'io server disconnect'])
  t.equal(ben.connected, true)
  await until(async () => (await ack(admin, 'stats:get', {})).totals.onlineUsers === 1)
  t.match(await ack(admin, 'stats:get', {}), { instances: [{ id: 'solo', connections: 1, rooms: 1 }], totals: { connections: 1, onlineUsers: 1 } })
  t.same(await ack(admin, 'user:disconnect', { userId: 'amy' }), { ok: true, disconnected: 0 })
})

t.test('two instances: stats from Redis, user:disconnect everywhere, prompt answers after a SIGKILL', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const ttl = 2000
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('admin'), PRESENCE_TTL_MS: String(ttl), LOG_LEVEL: 'warn', ...limitsOff }
  const a = await spawnServer(t, { ...env, INSTANCE_ID: 'inst-a' })
  const b = await spawnServer(t, { ...env, INSTANCE_ID: 'inst-b' })

  await connect(a.url, token({ sub: 'cat' }))
  await connect(a.url, token({ sub: 'dan' }))
  await connect(b.url, token({ sub: 'cat' }))
  const eve = await connect(b.url, token({ sub: 'eve' }))
  await ack(eve, 'room:join', { roomId: 'x' })
  const admin = await connect(a.url, adminToken, { namespace: '/admin' })

  // b's entry is as fresh as its last heartbeat (a third of the TTL)
  // (connections and room counts may reach the registry in different beats: wait for both)
  await until(async () => {
    const s = await ack(admin, 'stats:get', {})
    return s.totals.connections === 4 && s.instances.some((i: any) => i.id === 'inst-b' && i.rooms === 1)
  }, 5000)
  const stats = await ack(admin, 'stats:get', {})
  t.same(stats.instances.map((i: any) => `${i.id}:${i.connections}:${i.rooms}`), ['inst-a:2:0', 'inst-b:2:1'])
  t.same(stats.totals, { connections: 4, onlineUsers: 3 })

  t.same(await ack(admin, 'user:disconnect', { userId: 'cat' }), { ok: true, disconnected: 2 }, 'counted from the registry, both instances')
  await until(async () => (await ack(admin, 'stats:get', {})).totals.onlineUsers === 2, 5000)

  const killedAt = Date.now()
  b.proc.kill('SIGKILL')
  await b.exited
  const started = Date.now()
  const after = await ack(admin, 'stats:get', {})
  const answeredMs = Date.now() - started
  t.comment(`stats:get with a SIGKILLed instance answered in ${answeredMs} ms`)
  t.ok(answeredMs < 1000, 'answers promptly: nothing waits on the dead instance')
  t.equal(after.ok, true)
  t.same(await ack(admin, 'user:disconnect', { userId: 'eve' }), { ok: true, disconnected: 1 }, 'user:disconnect does not wait on it either')

  // the dead instance drops out once its entry expires
  await until(async () => (await ack(admin, 'stats:get', {})).instances.length === 1, ttl + 5000)
  t.comment(`the SIGKILLed instance left stats:get after ${Date.now() - killedAt} ms`)
  t.match(await ack(admin, 'stats:get', {}), { instances: [{ id: 'inst-a', connections: 1 }], totals: { connections: 1, onlineUsers: 1 } })
})
