/**
 * Drain admission (src/realtime/admission.ts, SPEC §8 "Graceful drain"): while draining, an
 * Engine.IO handshake is answered HTTP 503 on both transports (retried by socket.io-client and
 * by nginx's `proxy_next_upstream http_503`), requests of existing sessions go on, and a
 * transport accepted before the drain whose namespace CONNECT comes after is closed, never
 * answered with a `connect_error` the client would not retry.
 */
import t from 'tap'
import { request } from 'node:http'
import { Manager } from 'socket.io-client'
import { startApp, type TestApp } from '../helpers/app.js'
import { connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'

/**
 * Starts the drain the way SIGTERM does (app.close()); 20 connected sockets keep it going for
 * about 2 s (closes are spread over half of SHUTDOWN_GRACE_MS), while the test looks at it.
 */
async function startDrain (app: TestApp): Promise<void> {
  for (let i = 0; i < 20; i++) await connect(app.url, token({ sub: `busy${i}` }))
  app.app.close().catch(() => {})
  await until(async () => (await fetch(`${app.url}/health/ready`)).status === 503, 2000, 10)
}

async function upgradeStatus (url: string): Promise<{ status: number, retryAfter?: string, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(`${url}/socket.io/?EIO=4&transport=websocket`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
    })
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve({ status: 101, body: '' }) })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('while draining, Engine.IO handshakes get HTTP 503 on both transports', async (t) => {
  const app = await startApp(t, { SHUTDOWN_GRACE_MS: '6000' })
  const { url } = app
  t.equal((await upgradeStatus(url)).status, 101, 'a websocket upgrade is accepted before the drain')
  const sid = (JSON.parse((await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text()).slice(1)) as { sid: string }).sid

  await startDrain(app)
  const polling = await fetch(`${url}/socket.io/?EIO=4&transport=polling`)
  t.equal(polling.status, 503, 'polling handshake: 503')
  t.equal(polling.headers.get('retry-after'), '1')
  t.match(await polling.json(), { code: 'unavailable' })
  const ws = await upgradeStatus(url)
  t.equal(ws.status, 503, 'websocket upgrade: 503')
  t.equal(ws.retryAfter, '1')
  t.match(JSON.parse(ws.body), { code: 'unavailable' })
  const existing = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '1' })
  t.equal(existing.status, 200, 'a request of an existing session is not refused')
})

t.test('a transport accepted before the drain whose CONNECT comes after is closed, not refused', async (t) => {
  for (const transports of [['websocket'], ['polling']]) {
    const app = await startApp(t, { SHUTDOWN_GRACE_MS: '6000' })
    const manager = new Manager(app.url, { transports, reconnection: false, autoConnect: false })
    t.teardown(() => { manager.engine?.close() })
    await new Promise<void>((resolve, reject) => manager.open((err) => err !== undefined ? reject(err) : resolve()))
    await startDrain(app)
    const socket = manager.socket('/', { auth: { token: token({ sub: 'late' }) } })
    const errors: unknown[] = []
    socket.on('connect_error', (err) => errors.push(err))
    const closed = new Promise<string>(resolve => manager.once('close', (reason: string) => resolve(reason)))
    socket.connect()
    t.equal(await closed, 'transport close', `${transports[0]}: the transport is closed`)
    t.same(errors.filter(e => (e as { data?: unknown }).data !== undefined), [], 'no namespace connect_error')
    t.equal(socket.connected, false)
    socket.close()
  }
})
