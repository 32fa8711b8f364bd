/**
 * `switchboard/client` (SPEC §9): a `rate_limited` handshake — a refusal socket.io-client treats
 * as final — is retried after the `retryAfterMs` it carries, against a real server process with
 * a small per-IP connection limit; and a disconnect for being far over the send limit (SPEC §7:
 * `io server disconnect`, final for socket.io-client) is followed by a reconnect after the
 * `retryAfterMs` of the last `rate:limited`.
 */
import t from 'tap'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { until } from '../helpers/net.js'
import { token } from '../helpers/tokens.js'
import { countOf, recordingClient, unlimited } from './helpers.js'

const redis = await startRedis()
t.teardown(redis.close)

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

t.test('disconnected for being far over the send limit: back after retryAfterMs, rooms rejoined', async (t) => {
  // one send per 10 s after a burst of 1: the 11th refusal within 10 s disconnects (SPEC §7), and
  // the last rate:limited says to stay away the 10 s window
  const limited = await spawnServer(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('client-far'), LOG_LEVEL: 'warn', ...unlimited, RATE_LIMIT_SEND_BURST: '1', RATE_LIMIT_SEND_PER_SECOND: '0.1' })
  const r = recordingClient(t, { url: limited.url, transports: ['websocket'], token: token({ sub: 'flooder' }) })
  await r.client.join('far')
  let told = 0
  r.client.socket.on('rate:limited', (e) => { if (e.reason === 'rate_limited') told = e.retryAfterMs })
  // the application floods through the raw socket, past what the client's own send would do
  for (let i = 0; i < 40; i++) r.client.socket.emit('message:send', { roomId: 'far', text: `flood ${i}` }, () => {})
  await until(() => countOf(r, 'disconnected') === 1, 10_000)
  const away = Date.now()
  t.match(r.events.find(e => e.event === 'disconnected')?.data, { reason: 'io server disconnect' })
  t.ok(told >= 10_000, `told to stay away ${told} ms`)
  t.match(r.events.find(e => e.event === 'retry')?.data, { kind: 'connect', code: 'rate_limited' })
  await until(() => r.client.connected, told + 15_000)
  t.ok(Date.now() - away >= told - 500, `reconnected after ${Date.now() - away} ms`)
  t.equal(countOf(r, 'stopped'), 0, 'not stopped')
  await until(() => countOf(r, 'caughtUp') === 1, 10_000)
  const m = await r.client.send('far', 'back')
  t.equal(m.text, 'back', 'the room was rejoined')
})
