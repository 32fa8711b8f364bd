/**
 * What a user met (issue 8 §4): a browser app on another origin can call DELETE (CORS preflight
 * per SPEC §2); a refused handshake is logged once with its code and client address and never
 * the token; health probes and /metrics scrapes are not logged at info (SPEC §2 LOG_LEVEL).
 */
import t from 'tap'
import { startApp, baseEnv } from '../helpers/app.js'
import { serverOptions } from '../../src/build.js'
import { parseConfig } from '../../src/config.js'
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

t.test('logs carry the TRUST_PROXY client address, always a valid IP, never a header value', async (t) => {
  // nginx on this host appends the peer; what a client wrote to the left of it is its own
  const server = await spawnServer(t, { LOG_LEVEL: 'info', TRUST_PROXY: 'loopback' })
  const junk = `${'x'.repeat(4000)}, not-an-ip`
  await fetch(`${server.url}/v1/junk`, { headers: { 'x-forwarded-for': junk } })
  await fetch(`${server.url}/v1/forwarded`, { headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' } })
  const bad = token({ sub: 'mallory' }, { secret: 'another-secret-that-is-at-least-32-bytes' })
  for (const xff of [junk, '198.51.100.7, 203.0.113.9']) {
    const err = await connect(server.url, bad, { extraHeaders: { 'x-forwarded-for': xff } }).then(() => undefined, (e: Error) => e)
    t.equal(err?.message, 'unauthorized')
  }
  await until(() => server.output().includes('/v1/forwarded') && server.output().split('handshake refused').length === 3, 5000)
  const lines = server.output().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, any>)
  const address = (url: string): unknown => lines.find(l => l.req?.url === url)?.req?.remoteAddress
  t.equal(address('/v1/junk'), '127.0.0.1', 'no IP in X-Forwarded-For: the TCP peer')
  t.equal(address('/v1/forwarded'), '203.0.113.9', 'the right-most untrusted entry')
  t.same(lines.filter(l => l.msg === 'handshake refused').map(l => l.ip), ['127.0.0.1', '203.0.113.9'], 'the handshake log: the same rule')
  t.notOk(/xxxxxxxx|not-an-ip|198\.51\.100\.7/.test(server.output()), 'no header value reached a log line')
  await server.stop()
})

t.test('pino-pretty in development at a terminal only; JSON lines everywhere else', async (t) => {
  const isTTY = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY')
  t.teardown(() => {
    if (isTTY !== undefined) Object.defineProperty(process.stdout, 'isTTY', isTTY)
    else delete (process.stdout as { isTTY?: boolean }).isTTY
  })
  const transport = (env: Record<string, string>, tty: boolean): unknown => {
    Object.defineProperty(process.stdout, 'isTTY', { value: tty, configurable: true, writable: true })
    const logger = serverOptions(parseConfig(baseEnv(env))).logger as { transport?: { target?: string } }
    return logger.transport?.target
  }
  t.equal(transport({ NODE_ENV: 'development' }, true), 'pino-pretty', 'development at a terminal: pino-pretty')
  t.equal(transport({ NODE_ENV: 'development' }, false), undefined, 'development, output piped: JSON')
  t.equal(transport({ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-bytes!' }, true), undefined, 'production at a terminal: JSON')
  t.equal(transport({ NODE_ENV: 'test' }, true), undefined, 'test: JSON')
})
