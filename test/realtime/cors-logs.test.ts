/**
 * What a user met (issue 8 §4): a browser app on another origin can call DELETE (CORS preflight
 * per SPEC §2); a refused handshake is logged once with its code and client address and never
 * the token; health probes and /metrics scrapes are not logged at info (SPEC §2 LOG_LEVEL).
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { spawnServer } from '../helpers/proc.js'
import { connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'

t.test('CORS preflight allows DELETE and the contract\'s headers', async (t) => {
  const { url } = await startApp(t, { CORS_ORIGINS: 'https://app.example.com' })
  const res = await fetch(`${url}/v1/users/bob/connections`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization, content-type, idempotency-key' }
  })
  t.equal(res.status, 204)
  t.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com')
  const methods = (res.headers.get('access-control-allow-methods') ?? '').split(',').map(s => s.trim())
  t.same(methods.sort(), ['DELETE', 'GET', 'HEAD', 'POST'])
  const headers = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(',').map(s => s.trim())
  t.same(headers.sort(), ['authorization', 'content-type', 'idempotency-key'])
})

t.test('logs: one line per refused handshake, no probe or scrape lines at info', async (t) => {
  const server = await spawnServer(t, { LOG_LEVEL: 'info' })
  for (let i = 0; i < 3; i++) {
    await fetch(`${server.url}/health/live`)
    await fetch(`${server.url}/health/ready`)
    await fetch(`${server.url}/metrics`)
  }
  const bad = token({ sub: 'mallory' }, { secret: 'another-secret-that-is-at-least-32-bytes' })
  const err = await connect(server.url, bad).then(() => undefined, (e: Error) => e)
  t.equal(err?.message, 'unauthorized')
  await fetch(`${server.url}/v1/nowhere`)
  await until(() => server.output().includes('/v1/nowhere'), 5000)
  const lines = server.output().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, any>)
  t.ok(lines.some(l => l.req?.url === '/v1/nowhere'), 'other requests are logged at info')
  t.equal(lines.filter(l => /^\/(health|metrics)/.test(l.req?.url ?? '')).length, 0, 'no health or metrics request lines')
  const refused = lines.filter(l => l.msg === 'handshake refused')
  t.equal(refused.length, 1, 'one line for the refused handshake')
  t.match(refused[0], { code: 'unauthorized', ip: '127.0.0.1', nsp: '/' })
  t.notOk(server.output().includes(bad), 'the token is never logged')
  await server.stop()
})
