/**
 * Identity on both transports (SPEC §3, §4): every bad token maps to the same contract code on
 * the socket handshake (connect_error message + data) and on REST (JSON error body).
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect } from '../helpers/socket.js'
import { token, keyPair, signWith, unsignedToken, TEST_SECRET } from '../helpers/tokens.js'

const now = () => Math.floor(Date.now() / 1000)

async function handshakeCode (url: string, tok: string | undefined, extra: Record<string, unknown> = {}): Promise<{ message: string, data: unknown }> {
  try {
    const s = await connect(url, tok, extra)
    s.close()
    return { message: 'connected', data: null }
  } catch (err) {
    const e = err as Error & { data?: unknown }
    return { message: e.message, data: e.data }
  }
}

async function restCode (url: string, tok: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number, body: any }> {
  return await http(`${url}/v1/rooms/lobby/messages`, { token: tok, headers })
}

t.test('HS256 mode', async (t) => {
  const { url } = await startApp(t, { JWT_ISSUER: 'switchboard-test', JWT_AUDIENCE: 'sb-clients' })
  const good = { iss: 'switchboard-test', aud: 'sb-clients' }
  const rsa = keyPair('rsa')
  const cases: Array<[string, string | undefined, string]> = [
    ['valid token', token(good), 'ok'],
    ['missing token', undefined, 'unauthorized'],
    ['empty token', '', 'unauthorized'],
    ['malformed token', 'not-a-jwt', 'unauthorized'],
    ['three garbage segments', 'a.b.c', 'unauthorized'],
    ['bad signature', token(good, { secret: 'another-secret-that-is-also-32-bytes-long' }), 'unauthorized'],
    ['alg none', unsignedToken(good), 'unauthorized'],
    ['RS256 token in HS256 mode', signWith(rsa.privateKey, 'RS256', good), 'unauthorized'],
    ['expired', token({ ...good, exp: now() - 10 }), 'token_expired'],
    ['no exp claim', signWith(TEST_SECRET, 'HS256', { ...good, exp: undefined }), 'unauthorized'],
    ['wrong issuer', token({ ...good, iss: 'evil' }), 'unauthorized'],
    ['wrong audience', token({ ...good, aud: 'other' }), 'unauthorized'],
    ['no issuer', token({ aud: 'sb-clients' }), 'unauthorized'],
    ['sub missing', token({ ...good, sub: undefined as unknown as string }), 'unauthorized'],
    ['sub too long', token({ ...good, sub: 'x'.repeat(129) }), 'unauthorized'],
    ['bad role', token({ ...good, role: 'root' as 'admin' }), 'unauthorized'],
    ['rooms not an array', token({ ...good, rooms: 'lobby' as unknown as string[] }), 'unauthorized']
  ]
  for (const [name, tok, code] of cases) {
    const hs = await handshakeCode(url, tok)
    const rest = await restCode(url, tok)
    if (code === 'ok') {
      t.equal(hs.message, 'connected', `${name}: handshake accepted`)
      t.equal(rest.status, 200, `${name}: REST accepted`)
      continue
    }
    t.equal(hs.message, code, `${name}: connect_error message is ${code}`)
    t.match(hs.data, { code, message: String }, `${name}: connect_error data`)
    t.equal(rest.status, 401, `${name}: REST 401`)
    t.match(rest.body, { statusCode: 401, code, error: 'Unauthorized', message: String }, `${name}: REST body`)
  }
})

t.test('token in the Authorization header works on the handshake; never in the query string', async (t) => {
  const { url } = await startApp(t)
  const hdr = await handshakeCode(url, undefined, { extraHeaders: { authorization: `Bearer ${token()}` } })
  t.equal(hdr.message, 'connected')
  const q = await handshakeCode(url, undefined, { query: { token: token() } })
  t.equal(q.message, 'unauthorized')
  const rest = await http(`${url}/v1/rooms/lobby/messages?token=${token()}`)
  t.equal(rest.status, 401, 'REST ignores a query token (and rejects the unknown parameter)')
  const basic = await restCode(url, undefined, { authorization: 'Basic Zm9vOmJhcg==' })
  t.equal(basic.status, 401)
  t.equal(basic.body.code, 'unauthorized')
})

for (const kind of ['rsa', 'ec'] as const) {
  t.test(`public key mode (${kind}): HS/RS confusion is refused`, async (t) => {
    const kp = keyPair(kind)
    const alg = kind === 'rsa' ? 'RS256' : 'ES256'
    const { url } = await startApp(t, { JWT_SECRET: undefined, JWT_PUBLIC_KEY: kp.publicKey })
    const ok = signWith(kp.privateKey, alg)
    t.equal((await handshakeCode(url, ok)).message, 'connected', `${alg} token accepted on the handshake`)
    t.equal((await restCode(url, ok)).status, 200, `${alg} token accepted on REST`)
    // the classic confusion attack: HS256 signed with the public key as the HMAC secret
    const confused = signWith(kp.publicKey, 'HS256')
    t.equal((await handshakeCode(url, confused)).message, 'unauthorized')
    t.equal((await restCode(url, confused)).body.code, 'unauthorized')
    t.equal((await handshakeCode(url, unsignedToken())).message, 'unauthorized')
    const other = keyPair(kind)
    t.equal((await handshakeCode(url, signWith(other.privateKey, alg))).message, 'unauthorized', 'a key we do not trust')
    t.equal((await handshakeCode(url, token())).message, 'unauthorized', 'an HS256 token with the old secret')
  })
}

t.test('role rules on REST publish and the admin namespace', async (t) => {
  const { url } = await startApp(t)
  const user = await http(`${url}/v1/rooms/lobby/messages`, { token: token({ sub: 'u' }), body: { text: 'hi' } })
  t.equal(user.status, 403)
  t.equal(user.body.code, 'forbidden')
  const svc = await http(`${url}/v1/rooms/lobby/messages`, { token: token({ sub: 'svc', role: 'service' }), body: { text: 'hi' } })
  t.equal(svc.status, 201)
  const admin = await handshakeCode(url, token({ sub: 'u' }), { namespace: '/admin' })
  t.equal(admin.message, 'forbidden', 'a user cannot open /admin')
  t.equal((await handshakeCode(url, token({ sub: 'a', role: 'admin' }), { namespace: '/admin' })).message, 'connected')
})

t.test('auth:refresh', async (t) => {
  const { url } = await startApp(t)
  const { ack } = await import('../helpers/socket.js')
  const s = await connect(url, token({ sub: 'alice' }, { ttlS: 120 }))
  const exp = now() + 7200
  const r = await ack(s, 'auth:refresh', { token: token({ sub: 'alice', exp }) })
  t.same(r, { ok: true, expiresAt: exp * 1000 })
  const other = await ack(s, 'auth:refresh', { token: token({ sub: 'mallory' }) })
  t.equal(other.error.code, 'forbidden')
  const expired = await ack(s, 'auth:refresh', { token: token({ sub: 'alice', exp: now() - 5 }) })
  t.equal(expired.error.code, 'token_expired')
  const bad = await ack(s, 'auth:refresh', { token: 'nope' })
  t.equal(bad.error.code, 'unauthorized')
  const invalid = await ack(s, 'auth:refresh', {})
  t.equal(invalid.error.code, 'invalid_payload')
  t.ok(s.connected, 'failed refreshes do not disconnect')
})

t.test('a socket is warned before exp and disconnected at exp', async (t) => {
  const { url } = await startApp(t)
  const { next } = await import('../helpers/socket.js')
  const exp = now() + 2
  let warned: Promise<{ expiresAt: number }> | undefined
  const s = await connect(url, token({ sub: 'alice', exp }), { onCreate: (c) => { warned = next(c, 'auth:expiring', 2000) } })
  // exp is less than 60 s away, so the warning comes at once
  const warning = await warned!
  t.equal(warning.expiresAt, exp * 1000)
  const reason = await next<string>(s, 'disconnect', 5000)
  t.equal(reason, 'io server disconnect')
  t.ok(Date.now() >= exp * 1000, 'not before exp')
})
