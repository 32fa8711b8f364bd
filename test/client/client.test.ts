/**
 * `switchboard/client` (SPEC §9) against a real server process on Redis, reached through a TCP
 * balancer the tests can take offline: catch-up after an outage (pages on, merges, dedupes,
 * in order), `recovered: false` as a gap event, a send whose ack was lost retried into one
 * message, token refresh on `auth:expiring` and on `token_expired`, a failing token provider,
 * stopping on `unauthorized`, and presence/typing/receipts over long-polling.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { startBalancer } from '../helpers/balancer.js'
import { until, sleep } from '../helpers/net.js'
import { http } from '../helpers/app.js'
import { token, TEST_SECRET } from '../helpers/tokens.js'
import { createKeys } from '../../src/stores/keys.js'
import { countOf, inOrderOnce, post, recordingClient, unlimited } from './helpers.js'

const redis = await startRedis()
t.teardown(redis.close)
const prefix = uniquePrefix('client')
const server = await spawnServer(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'warn', ...unlimited })
const lb = await startBalancer(t, [server])

t.test('catch-up after an outage pages on past 200, merges with live messages, each once, in order', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'] })
  await r.client.join('c1')
  await post(server.url, 'c1', 3, 'before')
  await until(() => r.of('c1').length === 3, 10_000)

  lb.offline()
  await until(() => !r.client.connected, 10_000)
  await post(server.url, 'c1', 250, 'away')
  lb.online()
  await until(() => countOf(r, 'caughtUp') === 1, 30_000)
  await post(server.url, 'c1', 2, 'after')
  await until(() => r.of('c1').length === 255, 10_000)

  const got = r.of('c1')
  t.ok(inOrderOnce(got), 'every message once, in id order')
  t.same(got.map(m => m.text).slice(3, 6), ['away0', 'away1', 'away2'])
  t.equal(got[254].text, 'after1')
  t.match(r.events.find(e => e.event === 'caughtUp')?.data, { roomId: 'c1', count: 250, recovered: true })
  t.equal(countOf(r, 'gap'), 0, 'no gap')
})

t.test('recovered: false surfaces as a gap event', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'] })
  await r.client.join('c2')
  const [, last] = await post(server.url, 'c2', 2)
  await until(() => r.of('c2').length === 2, 10_000)

  lb.offline()
  await until(() => !r.client.connected, 10_000)
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  await admin.del(createKeys(prefix).roomHistory('c2')) // history reset: a new epoch
  await post(server.url, 'c2', 2, 'new')
  lb.online()

  await until(() => countOf(r, 'gap') === 1 && r.of('c2').length === 4, 30_000)
  t.same(r.events.find(e => e.event === 'gap')?.data, { roomId: 'c2', since: last.id })
  t.match(r.events.find(e => e.event === 'caughtUp')?.data, { roomId: 'c2', count: 2, recovered: false })
  t.same(r.of('c2').map(m => m.text), ['m0', 'm1', 'new0', 'new1'])
})

t.test('a send whose ack was lost is retried with the same clientMsgId: one message', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'], ackTimeoutMs: 800 })
  await r.client.join('c3')
  lb.blackhole(true) // the server gets the send, the client never hears the ack
  const sent = r.client.send('c3', 'exactly once')
  await until(() => r.events.some(e => e.event === 'retry' && (e.data as { kind: string }).kind === 'send'), 10_000)
  lb.blackhole(false)
  lb.cut() // the dead connection is noticed; the client reconnects, rejoins and retries
  const message = await sent
  t.match(message, { roomId: 'c3', text: 'exactly once' })

  const h = await http(`${server.url}/v1/rooms/c3/messages`, { token: token({ sub: 'bob' }) })
  t.equal(h.body.messages.length, 1, 'one message in history')
  t.equal(h.body.messages[0].id, message.id)
  await until(() => r.of('c3').length === 1, 10_000)
  await sleep(300)
  t.equal(r.of('c3').length, 1, 'delivered once')
})

t.test('auth:expiring is answered with auth:refresh: same connection past the old exp, no gap', async (t) => {
  let calls = 0
  // the first token expires in 4 s (inside the 60 s warning window: auth:expiring comes at once)
  const provider = async (): Promise<string> => token({ sub: 'carol' }, { ttlS: calls++ === 0 ? 4 : 3600 })
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'], token: provider })
  await r.client.join('c4')
  const id = r.client.socket.id
  await until(() => countOf(r, 'tokenRefreshed') === 1, 10_000)
  await post(server.url, 'c4', 2)
  await sleep(5000) // past the first token's exp
  await post(server.url, 'c4', 2, 'late')
  await until(() => r.of('c4').length === 4, 10_000)
  t.equal(r.client.socket.id, id, 'the same socket')
  t.equal(countOf(r, 'disconnected'), 0, 'never disconnected')
  t.equal(calls, 2)
  t.ok(inOrderOnce(r.of('c4')))
})

t.test('a token_expired handshake is retried with a fresh token', async (t) => {
  let calls = 0
  const provider = async (): Promise<string> => calls++ === 0
    ? token({ sub: 'dave', exp: Math.floor(Date.now() / 1000) - 10 })
    : token({ sub: 'dave' })
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'], token: provider })
  await until(() => r.client.connected, 10_000)
  t.equal(calls, 2)
  t.match(r.events.find(e => e.event === 'retry')?.data, { kind: 'connect', code: 'token_expired' })
})

t.test('a failing token provider: an error event per failure, backoff, then connected', async (t) => {
  const at: number[] = []
  const provider = async (): Promise<string> => {
    at.push(Date.now())
    if (at.length <= 3) throw new Error('identity provider down')
    return token({ sub: 'erin' })
  }
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'], token: provider, backoffMinMs: 200 })
  await until(() => r.client.connected, 15_000)
  t.equal(at.length, 4, 'no tight loop: one call per attempt')
  t.equal(r.errors.filter(e => e.code === 'token_provider_failed').length, 3)
  for (let i = 1; i < at.length; i++) t.ok(at[i] - at[i - 1] >= 190, `waited before attempt ${i + 1}`)
})

t.test('unauthorized stops the client and says why', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'], token: token({ sub: 'mallory' }, { secret: TEST_SECRET + 'x' }) })
  let refusals = 0
  r.client.socket.on('connect_error', () => { refusals++ })
  await until(() => countOf(r, 'stopped') === 1, 10_000)
  t.match(r.events.find(e => e.event === 'stopped')?.data, { code: 'unauthorized' })
  t.equal(r.client.status, 'stopped')
  await sleep(1000)
  t.equal(refusals, 1, 'no further attempts')
  await t.rejects(r.client.send('x', 'y', { timeoutMs: 500 }), { code: 'closed' })
})

t.test('presence, typing (throttled) and receipts; long-polling and websocket clients', async (t) => {
  const b = recordingClient(t, { url: lb.url, transports: ['websocket'], token: token({ sub: 'grace' }) })
  await b.client.join('c5')
  const states = await b.client.subscribe(['frank'])
  t.match(states, [{ userId: 'frank', status: 'offline' }])
  const a = recordingClient(t, { url: lb.url, transports: ['polling'], token: token({ sub: 'frank' }) })
  await a.client.join('c5')
  await until(() => b.events.some(e => e.event === 'roomPresence' && (e.data as { userId: string }).userId === 'frank'), 10_000)
  await until(() => b.events.some(e => e.event === 'presence' && (e.data as { status: string }).status === 'online'), 10_000)

  a.client.typing('c5')
  a.client.typing('c5') // throttled: not sent
  await until(() => countOf(b, 'typing') === 1, 10_000)
  a.client.typing('c5', false)
  await until(() => countOf(b, 'typing') === 2, 10_000)

  const m = await a.client.send('c5', 'hello over polling', { meta: { k: 1 } })
  await until(() => b.of('c5').length === 1, 10_000)
  t.match(b.of('c5')[0], { id: m.id, meta: { k: 1 }, userId: 'frank' })
  await b.client.read('c5', m.id)
  await until(() => a.events.some(e => e.event === 'receipt'), 10_000)
  t.match(a.events.find(e => e.event === 'receipt')?.data, { roomId: 'c5', userId: 'grace', messageId: m.id })
  await t.rejects(a.client.send('not-joined', 'x'), { code: 'not_in_room' }, 'a contract error rejects with its code')

  // a long-polling client catches up after a drop too
  lb.offline()
  await until(() => !a.client.connected, 10_000)
  await post(server.url, 'c5', 3)
  lb.online()
  await until(() => a.of('c5').length === 4, 30_000)
  t.ok(inOrderOnce(a.of('c5')))
})

t.test('a rate_limited handshake is retried after retryAfterMs', async (t) => {
  const limited = await spawnServer(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('client-rl'), LOG_LEVEL: 'warn', ...unlimited, RATE_LIMIT_CONNECTIONS_PER_10S: '2' })
  const raw = recordingClient(t, { url: limited.url, transports: ['websocket'], token: token({ sub: 'early' }) })
  const raw2 = recordingClient(t, { url: limited.url, transports: ['websocket'], token: token({ sub: 'early2' }) })
  await until(() => raw.client.connected && raw2.client.connected, 15_000)
  const t0 = Date.now()
  const r = recordingClient(t, { url: limited.url, transports: ['websocket'], token: token({ sub: 'late' }) })
  let retryAfterMs = -1
  r.client.socket.once('connect_error', (err) => { retryAfterMs = (err as Error & { data?: { retryAfterMs?: number } }).data?.retryAfterMs ?? -1 })
  await until(() => r.client.connected, 30_000)
  const retry = r.events.find(e => e.event === 'retry')?.data as { code: string, delayMs: number } | undefined
  t.match(retry, { kind: 'connect', code: 'rate_limited' }, 'refused for rate first')
  t.ok(retryAfterMs > 0 && (retry?.delayMs ?? 0) >= retryAfterMs, `waited retryAfterMs (${retryAfterMs} ms): ${retry?.delayMs} ms`)
  t.ok(Date.now() - t0 >= (retry?.delayMs ?? 0), 'and connected after it')
  t.equal(countOf(r, 'stopped'), 0)
})
