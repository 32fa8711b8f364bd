/**
 * REST limit (SPEC §7): RATE_LIMIT_HTTP_MAX per RATE_LIMIT_HTTP_WINDOW_MS per principal (`sub`),
 * per IP when anonymous, shared by all instances; 429 in the contract shape with Retry-After;
 * /health/*, /metrics and /docs outside it; a Redis outage does not turn into REST errors.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { until } from '../helpers/net.js'
import { metric } from '../metrics/scrape.js'

const redis = await startRedis()
t.teardown(redis.close)

// the test client plays the reverse proxy (loopback): X-Forwarded-For then tells clients apart
const limits = { RATE_LIMIT_HTTP_MAX: '3', RATE_LIMIT_HTTP_WINDOW_MS: '60000', TRUST_PROXY: 'loopback' }

for (const mode of ['memory', 'redis'] as const) {
  t.test(`per principal, per IP when anonymous, 429 with Retry-After (${mode})`, async (t) => {
    const env: Record<string, string> = { ...limits }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('rest') })
    const { url } = await startApp(t, env)
    const alice = token({ sub: 'alice' })
    const get = async (opts: Parameters<typeof http>[1] = {}) => await http(`${url}/v1/rooms/lobby/messages`, opts)

    for (let i = 0; i < 3; i++) t.equal((await get({ token: alice })).status, 200)
    const r = await get({ token: alice })
    t.equal(r.status, 429)
    t.same(Object.keys(r.body).sort(), ['code', 'error', 'message', 'retryAfterMs', 'statusCode'])
    t.match(r.body, { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: String })
    t.ok(r.body.retryAfterMs > 50_000 && r.body.retryAfterMs <= 60_000, `retryAfterMs ${r.body.retryAfterMs}`)
    t.equal(Number(r.headers.get('retry-after')), Math.ceil(r.body.retryAfterMs / 1000), 'Retry-After in seconds')
    t.equal((await get({ token: token({ sub: 'alice', name: 'other token, same sub' }) })).status, 429, 'keyed by sub, not by token')
    t.equal((await get({ token: token({ sub: 'bob' }) })).status, 200, 'another principal has its own budget')

    // anonymous and unverifiable callers are counted by IP, failed authentications included
    for (let i = 0; i < 3; i++) t.equal((await get()).status, 401)
    t.equal((await get()).status, 429, 'anonymous: the 4th from this IP is refused before authentication')
    t.equal((await get({ token: 'not-a-jwt' })).status, 429, 'a token that does not verify counts as its IP')
    t.equal((await get({ headers: { 'x-forwarded-for': '198.51.100.4' } })).status, 401, 'another IP (X-Forwarded-For from a trusted proxy) has its own budget')
    const probe = async () => (await http(`${url}/v1/nowhere`, { headers: { 'x-forwarded-for': '198.51.100.5' } })).status
    t.same([await probe(), await probe(), await probe(), await probe()], [404, 404, 404, 429], 'unknown routes are limited too')

    for (let i = 0; i < 5; i++) {
      t.equal((await http(`${url}/health/live`)).status, 200)
      t.equal((await http(`${url}/health/ready`)).status, 200)
      t.equal((await http(`${url}/metrics`)).status, 200)
      t.equal((await http(`${url}/docs/json`)).status, 200)
    }
    t.equal(await metric(url, 'switchboard_rate_limited_total{kind="http"}'), 5)
  })
}

t.test('shared by instances on one Redis', async (t) => {
  const env = { ...limits, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('rest-shared') }
  const a = await startApp(t, env)
  const b = await startApp(t, env)
  const alice = token({ sub: 'alice' })
  t.equal((await http(`${a.url}/v1/rooms/lobby/messages`, { token: alice })).status, 200)
  t.equal((await http(`${b.url}/v1/rooms/lobby/messages`, { token: alice })).status, 200)
  t.equal((await http(`${a.url}/v1/rooms/lobby/messages`, { token: alice })).status, 200)
  t.equal((await http(`${b.url}/v1/rooms/lobby/messages`, { token: alice })).status, 429, 'the second instance counts the first one\'s requests')
})

t.test('RATE_LIMIT_HTTP_MAX=0 switches it off', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_HTTP_MAX: '0' })
  const alice = token({ sub: 'alice' })
  for (let i = 0; i < 120; i++) {
    const r = await http(`${url}/v1/rooms/lobby/messages`, { token: alice })
    if (r.status !== 200) t.fail(`request ${i} answered ${r.status}`)
  }
  const r = await http(`${url}/v1/rooms/lobby/messages`, { token: alice })
  t.equal(r.status, 200, '120 requests, over the default 100 per minute, all answered')
  t.equal(r.headers.get('x-ratelimit-limit'), null, 'no limiter on the route')
})

t.test('Redis down: the limiter lets requests through instead of failing them', async (t) => {
  const own = await startRedis({ own: true })
  t.teardown(own.close)
  const { url } = await startApp(t, { ...limits, REDIS_URL: own.url, REDIS_KEY_PREFIX: uniquePrefix('rest-down') })
  const alice = token({ sub: 'alice' })
  t.equal((await http(`${url}/v1/rooms/lobby/messages`, { token: alice })).status, 200)
  await own.stop()
  await until(async () => (await http(`${url}/health/ready`)).status === 503)
  for (let i = 0; i < 5; i++) {
    const r = await http(`${url}/v1/rooms/lobby/messages`, { token: alice })
    // the history read fails with the contract's unavailable, never a 500 or a 429 from the limiter
    t.match(r, { status: 503, body: { code: 'unavailable' } })
  }
  const anon = await http(`${url}/v1/rooms/lobby/messages`)
  t.equal(anon.status, 401, 'an anonymous caller still gets its 401')
})
