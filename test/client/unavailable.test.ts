/**
 * `switchboard/client` (SPEC §9): a handshake refused with `unavailable` — a namespace
 * `connect_error`, which socket.io-client treats as final — is retried with backoff until the
 * server can take the connection. Against a real server process whose identity provider (a JWKS
 * endpoint this test serves) is down at start: every handshake answers `unavailable` until the
 * key set is fetched.
 */
import t from 'tap'
import { createServer } from 'node:http'
import { generateKeyPairSync } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { spawnServer } from '../helpers/proc.js'
import { until } from '../helpers/net.js'
import { countOf, recordingClient } from './helpers.js'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
let up = false
const idp = createServer((_req, res) => {
  if (!up) { res.writeHead(503).end(); return }
  res.writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] }))
})
await new Promise<void>(resolve => idp.listen(0, '127.0.0.1', resolve))
t.teardown(async () => { idp.closeAllConnections(); await new Promise(resolve => idp.close(resolve)) })
const jwksUrl = `http://127.0.0.1:${(idp.address() as { port: number }).port}/jwks.json`

t.test('an unavailable handshake is retried with backoff, then connected', async (t) => {
  const server = await spawnServer(t, { JWT_SECRET: undefined, JWT_JWKS_URL: jwksUrl, LOG_LEVEL: 'warn' })
  const jwt = createSigner({ key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256', kid: 'k1' })({ sub: 'uma', exp: Math.floor(Date.now() / 1000) + 3600 })
  const r = recordingClient(t, { url: server.url, transports: ['websocket'], token: jwt, backoffMinMs: 200, backoffMaxMs: 2000 })

  await until(() => countOf(r, 'retry') >= 3, 15_000)
  const retries = r.events.filter(e => e.event === 'retry').map(e => e.data as { kind: string, code: string, delayMs: number, attempt: number })
  t.ok(retries.every(e => e.kind === 'connect' && e.code === 'unavailable'), `retried on unavailable: ${JSON.stringify(retries)}`)
  t.ok(r.events.filter(e => e.event === 'connect_error').every(e => e.data === 'unavailable'), 'every refusal was unavailable')
  t.equal(countOf(r, 'stopped'), 0, 'not stopped')
  t.equal(r.client.status, 'reconnecting')
  t.ok(retries.every(e => e.delayMs >= 200), 'each retry waits at least backoffMinMs')
  t.same(retries.map(e => e.attempt), retries.map((_, i) => i + 1), 'attempts count up (the backoff grows)')

  up = true
  await until(() => r.client.connected, 15_000)
  t.equal(r.client.status, 'connected')
  const m = await r.client.join('u1').then(async () => await r.client.send('u1', 'through at last'))
  t.equal(m.userId, 'uma', 'and works once the identity provider answers')
})
