/**
 * Redis stopped mid-run (SPEC §8): `message:send` answers `unavailable` within 2 s and nothing
 * is written, REST answers 503, readiness goes 503, and the instance recovers by itself when
 * Redis is back — for a Redis that is gone (connection refused) and one that hangs.
 */
import t from 'tap'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { startApp, http } from '../helpers/app.js'
import { connect, ack, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'

t.test('Redis killed and restarted', async (t) => {
  const redis = await startRedis({ own: true })
  t.teardown(redis.close)
  const { url } = await startApp(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('redis-down') })
  const alice = await connect(url, token({ sub: 'alice' }))
  const bob = await connect(url, token({ sub: 'bob' }))
  await ack(alice, 'room:join', { roomId: 'lobby' })
  await ack(bob, 'room:join', { roomId: 'lobby' })
  t.equal((await ack(alice, 'message:send', { roomId: 'lobby', text: 'before' })).ok, true)
  t.same((await http(`${url}/health/ready`)).body, { status: 'ok', redis: 'up' })

  await redis.stop()
  const started = Date.now()
  const r = await ack(alice, 'message:send', { roomId: 'lobby', text: 'during', clientMsgId: 'during-1' })
  const took = Date.now() - started
  t.equal(r.ok, false)
  t.equal(r.error.code, 'unavailable')
  t.ok(took < 2000, `answered within 2 s (${took} ms)`)
  t.notMatch(r.error.message, /ECONNREFUSED|ioredis|stack|at /, 'no internals in the message')

  const rest = await http(`${url}/v1/rooms/lobby/messages`, { token: token({ sub: 'svc', role: 'service' }), body: { text: 'during' } })
  t.equal(rest.status, 503)
  t.equal(rest.body.code, 'unavailable')
  const read = await http(`${url}/v1/rooms/lobby/messages`, { token: token({ sub: 'bob' }) })
  t.equal(read.status, 503)
  await until(async () => (await http(`${url}/health/ready`)).status === 503, 5000)
  t.match((await http(`${url}/health/ready`)).body, { code: 'unavailable', redis: 'down' })
  t.equal((await http(`${url}/health/live`)).status, 200, 'still live')
  t.ok(alice.connected && bob.connected, 'sockets stay connected while Redis is away')

  await redis.start()
  await until(async () => (await http(`${url}/health/ready`)).status === 200, 10_000)
  // the relay subscription comes back by itself too
  await until(async () => {
    const got = next(bob, 'message:new', 1000).catch(() => undefined)
    const sent = await ack(alice, 'message:send', { roomId: 'lobby', text: 'after' })
    return sent.ok === true && (await got)?.id === sent.message.id
  }, 10_000, 200)
  const hist = await http(`${url}/v1/rooms/lobby/messages`, { token: token({ sub: 'bob' }) })
  t.equal(hist.status, 200)
  t.notOk(hist.body.messages.some((m: { text: string }) => m.text === 'during'), 'nothing from the outage was written')
  t.ok(hist.body.messages.some((m: { text: string }) => m.text === 'after'))
})

t.test('Redis that hangs (SIGSTOP) still answers unavailable within 2 s', async (t) => {
  const redis = await startRedis({ own: true })
  t.teardown(redis.close)
  const { url } = await startApp(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('redis-hang') })
  const alice = await connect(url, token({ sub: 'alice' }))
  await ack(alice, 'room:join', { roomId: 'lobby' })
  redis.signal('SIGSTOP')
  const started = Date.now()
  const r = await ack(alice, 'message:send', { roomId: 'lobby', text: 'hung' })
  const took = Date.now() - started
  t.equal(r.error?.code, 'unavailable')
  t.ok(took < 2000, `answered within 2 s (${took} ms)`)
  redis.signal('SIGCONT')
  await until(async () => (await ack(alice, 'message:send', { roomId: 'lobby', text: 'back' })).ok === true, 10_000, 200)
  t.pass('recovers when Redis resumes')
})
