/**
 * RATE_LIMIT_CONNECTIONS_PER_10S per client IP (SPEC §7), checked before the handshake
 * authentication and shared through Redis by every instance. A refusal is a connect_error whose
 * message is `rate_limited` and whose data is `{ code, message, retryAfterMs }`.
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { metric } from '../metrics/scrape.js'

const redis = await startRedis()
t.teardown(redis.close)

type ConnectError = Error & { data?: { code: string, message: string, retryAfterMs?: number } }
const refusal = async (p: Promise<unknown>): Promise<ConnectError | 'connected'> => await p.then(() => 'connected' as const, (err: ConnectError) => err)

for (const mode of ['memory', 'redis'] as const) {
  t.test(`per IP: refused with connect_error rate_limited (${mode})`, async (t) => {
    const env: Record<string, string> = { RATE_LIMIT_CONNECTIONS_PER_10S: '3', TRUST_PROXY: 'loopback' }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('conn') })
    const { url } = await startApp(t, env)
    for (let i = 0; i < 3; i++) await connect(url, token({ sub: `u${i}` }))
    const err = await refusal(connect(url, token({ sub: 'u3' })))
    if (err === 'connected') throw new Error('the 4th connection in 10 s was accepted')
    t.equal(err.message, 'rate_limited')
    t.match(err.data, { code: 'rate_limited', message: String, retryAfterMs: Number })
    t.ok(err.data!.retryAfterMs! > 0 && err.data!.retryAfterMs! <= 20_000, `retryAfterMs ${err.data!.retryAfterMs}`)
    t.equal(await refusal(connect(url, undefined)).then(e => e === 'connected' ? e : e.message), 'rate_limited', 'checked before authentication')
    t.equal(await refusal(connect(url, token({ sub: 'x' }), { extraHeaders: { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' } })), 'connected',
      'another client IP (X-Forwarded-For, as REST reads it behind the proxy) has its own budget')
    t.equal(await metric(url, 'switchboard_rate_limited_total{kind="connection"}'), 2)
  })
}

t.test('shared by instances on one Redis', async (t) => {
  const env = { RATE_LIMIT_CONNECTIONS_PER_10S: '3', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('conn-shared') }
  const a = await startApp(t, env)
  const b = await startApp(t, env)
  await connect(a.url, token({ sub: 'u1' }))
  await connect(b.url, token({ sub: 'u2' }))
  await connect(a.url, token({ sub: 'u3' }))
  const err = await refusal(connect(b.url, token({ sub: 'u4' })))
  t.equal(err === 'connected' ? err : err.message, 'rate_limited', 'the second instance counts the first one\'s connections')
})

t.test('RATE_LIMIT_CONNECTIONS_PER_10S=0 switches it off', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_CONNECTIONS_PER_10S: '0', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('conn-off') })
  const all = await Promise.all(Array.from({ length: 40 }, async (_, i) => await refusal(connect(url, token({ sub: `u${i}` })))))
  t.ok(all.every(r => r === 'connected'), '40 connections at once, over the default 30, all accepted')
})
