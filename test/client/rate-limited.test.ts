/**
 * `switchboard/client` (SPEC §9): a `rate_limited` handshake — a refusal socket.io-client treats
 * as final — is retried after the `retryAfterMs` it carries, against a real server process with
 * a small per-IP connection limit.
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
