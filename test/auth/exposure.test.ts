/**
 * Nothing secret in logs, nothing open that should be closed (issue 9 item 5): a real instance's
 * log never holds a token used on REST, on the handshake (polling and websocket, also in a query
 * string) or in auth:refresh; Engine.IO sessions count toward the per-IP connection limit even
 * when they never complete the namespace handshake; CORS_ORIGINS holds on the handshake of both
 * transports; security headers on REST and /docs; the token lifetime rule.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { spawnServer } from '../helpers/proc.js'
import { connect, ack } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { REFUSED_SESSION_MS } from '../../src/realtime/transport-guard.js'

type ConnectError = Error & { data?: { code: string, message: string } }
const outcome = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'connected', (e: ConnectError) => e.message)
const nowS = (): number => Math.floor(Date.now() / 1000)

t.test('no token reaches a real instance\'s log', async (t) => {
  const srv = await spawnServer(t, { LOG_LEVEL: 'debug', RATE_LIMIT_HTTP_MAX: '0' })
  const used: string[] = []
  const tok = (claims: Parameters<typeof token>[0]): string => { const s = token(claims); used.push(s); return s }

  const rest = tok({ sub: 'alice' })
  // a token in a query string is never used: it is an unknown query parameter (invalid_payload),
  // and neither the answer nor the log repeats it
  const queried = await http(`${srv.url}/v1/presence/alice?token=${rest}&access_token=${rest}`, { token: rest })
  t.equal(queried.status, 400)
  t.notOk(JSON.stringify(queried.body).includes(rest), 'the answer does not repeat the token')
  await http(`${srv.url}/v1/nothing?token=${tok({ sub: 'x' })}`)
  await http(`${srv.url}/v1/rooms/%E0%A4%A/messages?token=${tok({ sub: 'y' })}`)
  await http(`${srv.url}/v1/presence/alice`, { token: tok({ sub: 'z', exp: nowS() - 10 }) })
  // a token pasted into a path, plain and percent-encoded (the path is logged, the query string never)
  await http(`${srv.url}/v1/presence/${tok({ sub: 'p1' })}`)
  await http(`${srv.url}/v1/presence/%65${tok({ sub: 'p2' }).slice(1)}`)
  for (const transport of ['polling', 'websocket']) {
    const s = await connect(srv.url, tok({ sub: `h-${transport}` }), { transports: [transport], query: { token: tok({ sub: `q-${transport}` }) } })
    t.equal((await ack(s, 'auth:refresh', { token: tok({ sub: `h-${transport}` }) })).ok, true)
    t.equal((await ack(s, 'auth:refresh', { token: tok({ sub: 'someone-else' }) })).error?.code, 'forbidden')
    t.equal((await ack(s, 'auth:refresh', { token: tok({ sub: `h-${transport}`, exp: nowS() - 5 }) })).error?.code, 'token_expired')
    s.close()
    const bad = tok({ sub: 'bad', exp: nowS() - 5 })
    t.equal(await outcome(connect(srv.url, bad, { transports: [transport], query: { token: bad }, extraHeaders: { authorization: `Bearer ${bad}` } })), 'token_expired')
  }
  // the instance logged the requests (so the absence below means something)
  await until(() => srv.output().includes('/v1/nothing'), 5000)
  const log = srv.output()
  t.ok(log.includes('/v1/presence/alice'), 'requests are logged')
  for (const s of used) {
    const signature = s.split('.')[2]
    t.notOk(log.includes(signature), `token ${s.slice(0, 12)}… is not in the log`)
  }
  t.notOk(/[?&](access_)?token=/.test(log), 'no query string with a token in the log')
})

t.test('Engine.IO sessions count toward the per-IP connection limit', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_CONNECTIONS_PER_10S: '3' })
  const handshake = async (): Promise<string> => {
    const r = await fetch(`${url}/socket.io/?EIO=4&transport=polling`)
    const body = await r.text()
    return JSON.parse(body.slice(1)).sid as string
  }
  const alive = async (sid: string): Promise<boolean> => {
    const r = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { signal: AbortSignal.timeout(30_000) })
    const body = await r.text()
    // a long poll answers at the next packet: a close packet ("1") means the server closed the session
    return r.status === 200 && !body.split('\x1e').includes('1')
  }
  // three sessions that never send a namespace CONNECT
  const idle = [await handshake(), await handshake(), await handshake()]
  const err = await connect(url, token({ sub: 'late' })).then(() => undefined, (e: ConnectError) => e)
  t.equal(err?.message, 'rate_limited', 'the fourth session is refused: the idle ones counted')
  t.equal(err?.data?.code, 'rate_limited')
  const over = await handshake()
  const start = Date.now()
  await until(async () => !(await alive(over)), REFUSED_SESSION_MS + 10_000, 100)
  t.ok(Date.now() - start < REFUSED_SESSION_MS + 5000, 'a session over the limit is closed by the server soon')
  // one that stays idle under the limit is closed at the namespace connect timeout (10 s), not 45 s
  await until(async () => !(await alive(idle[0])), 20_000, 250)
  t.pass('an idle session is closed by the server')
})

t.test('CORS_ORIGINS holds on the handshake of both transports', async (t) => {
  const { url } = await startApp(t, { CORS_ORIGINS: 'https://app.example', RATE_LIMIT_CONNECTIONS_PER_10S: '0' })
  const polling = async (origin?: string): Promise<number> => {
    const r = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers: origin === undefined ? {} : { origin } })
    await r.arrayBuffer()
    return r.status
  }
  t.equal(await polling('https://app.example'), 200, 'polling handshake from the allowed origin')
  t.equal(await polling('https://evil.example'), 403, 'polling handshake from a foreign origin')
  t.equal(await polling(), 200, 'a handshake without Origin (not a browser)')
  for (const transport of ['websocket', 'polling']) {
    const as = async (origin: string): Promise<string> => await outcome(connect(url, token({ sub: 'o' }), { transports: [transport], extraHeaders: { origin } }))
    t.equal(await as('https://app.example'), 'connected', `${transport}: allowed origin`)
    t.not(await as('https://evil.example'), 'connected', `${transport}: foreign origin refused`)
  }
  const open = await startApp(t, { RATE_LIMIT_CONNECTIONS_PER_10S: '0' })
  const any = await fetch(`${open.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://any.example' } })
  await any.arrayBuffer()
  t.equal(any.status, 200, 'CORS_ORIGINS=* (development default) allows any origin')
})

t.test('security headers on REST and /docs in production', async (t) => {
  const { url } = await startApp(t, { NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example' })
  const api = await http(`${url}/v1/presence/alice`, { token: token({ sub: 'a' }) })
  t.equal(api.status, 200)
  t.equal(api.headers.get('x-content-type-options'), 'nosniff')
  t.equal(api.headers.get('cache-control'), 'no-store', 'API answers are not cached')
  t.ok(api.headers.get('x-frame-options'), 'frame options')
  const denied = await http(`${url}/v1/presence/alice`)
  t.equal(denied.headers.get('cache-control'), 'no-store', 'errors too')
  const docs = await fetch(`${url}/docs/`, { redirect: 'follow' })
  t.equal(docs.status, 200)
  const csp = docs.headers.get('content-security-policy') ?? ''
  t.match(csp, /script-src 'self'/, `a CSP for /docs: ${csp}`)
  t.match(csp, /frame-ancestors/)
  t.notMatch(csp, /upgrade-insecure-requests/, 'that works over plain HTTP too')
  const html = await docs.text()
  for (const src of [...html.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map(m => m[1])) {
    const r = await fetch(new URL(src, `${url}/docs/`))
    await r.arrayBuffer()
    t.equal(r.status, 200, `Swagger UI asset ${src} loads`)
  }
  const json = await fetch(`${url}/docs/json`)
  await json.arrayBuffer()
  t.equal(json.status, 200)
})

t.test('token lifetime rule: JWT_MAX_TTL_S and iat not in the future', async (t) => {
  const { url } = await startApp(t, { JWT_MAX_TTL_S: '3600', RATE_LIMIT_CONNECTIONS_PER_10S: '0' })
  const unlimited = await startApp(t, { RATE_LIMIT_CONNECTIONS_PER_10S: '0' })
  const cases: Array<[string, Parameters<typeof token>[0], string, string]> = [
    ['lifetime within JWT_MAX_TTL_S', { sub: 'a', iat: nowS(), exp: nowS() + 1800 }, 'ok', 'ok'],
    ['lifetime over JWT_MAX_TTL_S', { sub: 'a', iat: nowS(), exp: nowS() + 7200 }, 'unauthorized', 'ok'],
    ['exp in year 9999', { sub: 'a', iat: nowS(), exp: 253402300799 }, 'unauthorized', 'ok'],
    ['exp far off and no iat', { sub: 'a', iat: undefined, exp: nowS() + 7200 }, 'unauthorized', 'ok'],
    ['iat an hour in the future', { sub: 'a', iat: nowS() + 3600, exp: nowS() + 3700 }, 'unauthorized', 'unauthorized'],
    ['iat 30 s in the future (clock skew)', { sub: 'a', iat: nowS() + 30, exp: nowS() + 600 }, 'ok', 'ok']
  ]
  for (const [name, claims, limited, open] of cases) {
    const jwt = token(claims)
    for (const [where, base, want] of [['JWT_MAX_TTL_S=3600', url, limited], ['unset', unlimited.url, open]]) {
      const r = await http(`${base}/v1/presence/alice`, { token: jwt })
      t.equal(r.status === 200 ? 'ok' : r.body.code, want, `${name} (${where}): REST`)
      const s = await outcome(connect(base, jwt))
      t.equal(s === 'connected' ? 'ok' : s, want, `${name} (${where}): handshake`)
    }
  }
  const over = await http(`${url}/v1/presence/alice`, { token: token({ sub: 'a', exp: nowS() + 7200 }) })
  t.match(over.body.message, /JWT_MAX_TTL_S/, 'the message names the rule')
})
