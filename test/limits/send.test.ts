/**
 * `message:send` limit (SPEC §7): RATE_LIMIT_SEND_BURST then RATE_LIMIT_SEND_PER_SECOND per user,
 * across all of the user's sockets, both transports and all instances. A refusal is
 * `rate_limited` with retryAfterMs (and `rate:limited` to the socket; REST 429 + Retry-After).
 * The refill is 0.1/s so nothing refills while a test runs.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startApp, http } from '../helpers/app.js'
import { spawnServer } from '../helpers/proc.js'
import { connect, ack, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { metric, metricTotal } from '../metrics/scrape.js'

const redis = await startRedis()
t.teardown(redis.close)

const limits = { RATE_LIMIT_SEND_BURST: '3', RATE_LIMIT_SEND_PER_SECOND: '0.1' }

for (const mode of ['memory', 'redis'] as const) {
  t.test(`burst, then rate_limited across two sockets of one user (${mode})`, async (t) => {
    const env: Record<string, string> = { ...limits }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('send') })
    const { url } = await startApp(t, env)
    const a1 = await connect(url, token({ sub: 'alice' }))
    const a2 = await connect(url, token({ sub: 'alice' }))
    const bob = await connect(url, token({ sub: 'bob' }))
    for (const s of [a1, a2, bob]) await ack(s, 'room:join', { roomId: 'lobby' })

    t.equal((await ack(a1, 'message:send', { roomId: 'lobby', text: '1' })).ok, true)
    t.equal((await ack(a2, 'message:send', { roomId: 'lobby', text: '2' })).ok, true)
    t.equal((await ack(a1, 'message:send', { roomId: 'lobby', text: '3' })).ok, true)

    const told = next(a2, 'rate:limited')
    const refused = await ack(a2, 'message:send', { roomId: 'lobby', text: '4' })
    t.match(refused, { ok: false, error: { code: 'rate_limited', message: String, retryAfterMs: Number } })
    t.ok(refused.error.retryAfterMs > 5000 && refused.error.retryAfterMs <= 10_000, `one message per 10 s (retryAfterMs ${refused.error.retryAfterMs})`)
    const event = await told
    t.same(Object.keys(event).sort(), ['event', 'retryAfterMs'])
    t.equal(event.event, 'message:send')
    t.equal(event.retryAfterMs, refused.error.retryAfterMs, 'the event says the same as the ack')
    t.match(await ack(a1, 'message:send', { roomId: 'lobby', text: '5' }), { ok: false, error: { code: 'rate_limited' } }, 'the other socket of the user is limited too')
    t.equal((await ack(bob, 'message:send', { roomId: 'lobby', text: 'b' })).ok, true, 'another user has a budget of their own')
    t.equal(await metric(url, 'switchboard_rate_limited_total{kind="send"}'), 2)
    t.equal(await metricTotal(url, 'switchboard_messages_sent_total'), 4, 'refused sends are not counted as sent')
  })
}

t.test('REST publish and socket sends of one principal share the bucket; 429 + Retry-After', async (t) => {
  const { url } = await startApp(t, { ...limits, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('send-rest') })
  const svc = token({ sub: 'svc', role: 'service' })
  const s = await connect(url, svc)
  await ack(s, 'room:join', { roomId: 'lobby' })
  t.equal((await ack(s, 'message:send', { roomId: 'lobby', text: 'socket' })).ok, true)
  t.equal((await http(`${url}/v1/rooms/lobby/messages`, { token: svc, body: { text: 'rest 1' } })).status, 201)
  // on behalf of a user: the caller pays, not the user it posts for
  t.equal((await http(`${url}/v1/rooms/lobby/messages`, { token: svc, body: { text: 'rest 2', userId: 'carol' } })).status, 201)
  const r = await http(`${url}/v1/rooms/lobby/messages`, { token: svc, body: { text: 'rest 3' } })
  t.equal(r.status, 429)
  t.match(r.body, { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: String, retryAfterMs: Number })
  const retryAfter = Number(r.headers.get('retry-after'))
  t.ok(retryAfter >= 1 && retryAfter === Math.ceil(r.body.retryAfterMs / 1000), `Retry-After ${retryAfter} s matches retryAfterMs ${r.body.retryAfterMs}`)
  t.match(await ack(s, 'message:send', { roomId: 'lobby', text: 'socket again' }), { ok: false, error: { code: 'rate_limited' } })
})

t.test('shared by two server processes on one Redis', async (t) => {
  const env = { ...limits, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('send-procs'), LOG_LEVEL: 'warn' }
  // one after the other: two TypeScript start-ups at once are slow on a small machine
  const p1 = await spawnServer(t, env)
  const p2 = await spawnServer(t, env)
  const a1 = await connect(p1.url, token({ sub: 'alice' }))
  const a2 = await connect(p2.url, token({ sub: 'alice' }))
  await ack(a1, 'room:join', { roomId: 'lobby' })
  await ack(a2, 'room:join', { roomId: 'lobby' })
  t.equal((await ack(a1, 'message:send', { roomId: 'lobby', text: '1' })).ok, true)
  t.equal((await ack(a2, 'message:send', { roomId: 'lobby', text: '2' })).ok, true)
  t.equal((await ack(a1, 'message:send', { roomId: 'lobby', text: '3' })).ok, true)
  t.match(await ack(a2, 'message:send', { roomId: 'lobby', text: '4' }), { ok: false, error: { code: 'rate_limited', retryAfterMs: Number } }, 'the second instance sees the first one\'s sends')
  t.match(await ack(a1, 'message:send', { roomId: 'lobby', text: '5' }), { ok: false, error: { code: 'rate_limited' } })
})

t.test('RATE_LIMIT_* = 0 switches the limits off and makes no Redis call for them', async (t) => {
  const prefix = uniquePrefix('send-off')
  for (const off of [{ RATE_LIMIT_SEND_BURST: '0' }, { RATE_LIMIT_SEND_PER_SECOND: '0' }]) {
    const app = await startApp(t, {
      ...limits,
      ...off,
      RATE_LIMIT_HTTP_MAX: '0',
      RATE_LIMIT_EVENTS_PER_MINUTE: '0',
      RATE_LIMIT_CONNECTIONS_PER_10S: '0',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix
    })
    const s = await connect(app.url, token({ sub: 'alice' }))
    await ack(s, 'room:join', { roomId: 'lobby' })
    const acks = await Promise.all(Array.from({ length: 25 }, async (_, i) => await ack(s, 'message:send', { roomId: 'lobby', text: `${i}` })))
    t.ok(acks.every(a => a.ok === true), `${Object.keys(off)[0]}=0: 25 sends, over the burst, all accepted`)
    for (let i = 0; i < 5; i++) await connect(app.url, token({ sub: `c${i}` }))
    for (let i = 0; i < 5; i++) t.equal((await http(`${app.url}/v1/rooms/lobby/messages`, { token: token({ sub: 'alice' }) })).status, 200)
    await app.close()
  }
  const probe = new Redis(redis.url)
  t.teardown(() => probe.disconnect())
  const [, found] = await probe.scan('0', 'MATCH', `${prefix}*rl*`, 'COUNT', 10_000)
  t.same(found, [], 'no rate-limit key was ever written')
})
