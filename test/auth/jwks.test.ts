/**
 * JWT_JWKS_URL (SPEC §2): tokens verified by `kid` against a JWKS endpoint the test serves
 * (node:http; RSA and EC keys from node:crypto, tokens signed with fast-jwt). Accepted on REST,
 * the handshake and auth:refresh; a new key is picked up without restart (one fetch per 10 s at
 * most for unknown kids); no kid, an unknown kid, `alg: none` and HS256 over the public key are
 * `unauthorized`; an endpoint down or slow at start answers `unavailable` within the 2 s bound.
 */
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { startApp, http } from '../helpers/app.js'
import { connect, ack } from '../helpers/socket.js'
import { unsignedToken } from '../helpers/tokens.js'
import { sleep } from '../helpers/net.js'
import { parseConfig } from '../../src/config.js'

interface Jwks { keys: object[], mode: 'up' | 'down' | 'slow', hits: number, url: string, server: Server }

async function jwksServer (t: Test): Promise<Jwks> {
  const state = { keys: [] as object[], mode: 'up' as Jwks['mode'], hits: 0 }
  const server = createServer((req, res) => {
    state.hits++
    if (state.mode === 'down') { res.writeHead(503).end(); return }
    if (state.mode === 'slow') { setTimeout(() => res.end(JSON.stringify({ keys: state.keys })), 5000).unref(); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  const addr = server.address() as { port: number }
  return Object.assign(state, { url: `http://127.0.0.1:${addr.port}/.well-known/jwks.json`, server })
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = (key: KeyObject, kid: string, alg: string): object => ({ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' })
const pem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString()
const claims = (extra: object = {}): object => ({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600, ...extra })
const sign = (key: KeyObject, algorithm: 'RS256' | 'ES256', kid: string | undefined, extra: object = {}): string =>
  createSigner({ key: pem(key), algorithm, ...(kid !== undefined && { kid }) })(claims(extra))
const refusal = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'connected', (err: Error) => err.message)

t.test('config: JWT_JWKS_URL excludes JWT_SECRET and JWT_PUBLIC_KEY, and never uses the dev secret', async (t) => {
  t.throws(() => parseConfig({ JWT_JWKS_URL: 'http://idp/jwks', JWT_SECRET: 'x'.repeat(32) }), /JWT_JWKS_URL/)
  t.throws(() => parseConfig({ JWT_JWKS_URL: 'ftp://idp/jwks' }), /JWT_JWKS_URL/)
  const c = parseConfig({ NODE_ENV: 'production', JWT_JWKS_URL: 'https://idp.example/jwks' })
  t.equal(c.usingDevSecret, false)
  t.same(c.jwtAlgorithms, ['RS256', 'ES256'])
})

t.test('verified by kid on REST, the handshake and auth:refresh; rotation without restart; refusals', async (t) => {
  const idp = await jwksServer(t)
  idp.keys = [jwk(rsa.publicKey, 'k1', 'RS256')]
  const { url } = await startApp(t, { JWT_SECRET: undefined, JWT_JWKS_URL: idp.url })

  const good = sign(rsa.privateKey, 'RS256', 'k1')
  t.equal((await http(`${url}/v1/presence/bob`, { token: good })).status, 200, 'REST')
  const s = await connect(url, good)
  t.match(await ack(s, 'auth:refresh', { token: sign(rsa.privateKey, 'RS256', 'k1', { exp: Math.floor(Date.now() / 1000) + 1800 }) }), { ok: true, expiresAt: Number }, 'auth:refresh')
  const fetched = idp.hits

  const ecToken = sign(ec.privateKey, 'ES256', 'k2')
  t.match(await http(`${url}/v1/presence/bob`, { token: ecToken }), { status: 401, body: { code: 'unauthorized' } }, 'an unknown kid')
  t.equal(await refusal(connect(url, ecToken)), 'unauthorized')
  t.match(await ack(s, 'auth:refresh', { token: ecToken }), { ok: false, error: { code: 'unauthorized' } })
  t.equal(idp.hits, fetched, 'no fetch within 10 s of the last one')

  // rotation: the provider publishes k2; after 10 s a token with it makes one fetch
  idp.keys = [jwk(rsa.publicKey, 'k1', 'RS256'), jwk(ec.publicKey, 'k2', 'ES256')]
  await sleep(10_200)
  t.equal((await http(`${url}/v1/presence/bob`, { token: ecToken })).status, 200, 'the new key is used without restart')
  t.equal(idp.hits, fetched + 1, 'one fetch')
  t.equal((await connect(url, ecToken)).connected, true, 'handshake with the new key')
  for (let i = 0; i < 5; i++) t.equal(await refusal(connect(url, sign(ec.privateKey, 'ES256', `made-up-${i}`))), 'unauthorized')
  t.equal(idp.hits, fetched + 1, 'made-up kids fetch nothing more')

  const refused: Array<[string, string]> = [
    ['no kid', sign(rsa.privateKey, 'RS256', undefined)],
    ['alg none', unsignedToken()],
    ['HS256 over the public key', createSigner({ key: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(), algorithm: 'HS256', kid: 'k1' })(claims())],
    ['kid of another algorithm', sign(ec.privateKey, 'ES256', 'k1')],
    ['expired', sign(rsa.privateKey, 'RS256', 'k1', { exp: Math.floor(Date.now() / 1000) - 10 })]
  ]
  for (const [what, tok] of refused) {
    const code = what === 'expired' ? 'token_expired' : 'unauthorized'
    t.match(await http(`${url}/v1/presence/bob`, { token: tok }), { status: 401, body: { code } }, `REST: ${what}`)
    t.equal(await refusal(connect(url, tok)), code, `handshake: ${what}`)
  }
})

for (const mode of ['down', 'slow'] as const) {
  t.test(`JWKS ${mode} at start: unavailable within 2 s, accepted once it answers`, async (t) => {
    const idp = await jwksServer(t)
    idp.keys = [jwk(rsa.publicKey, 'k1', 'RS256')]
    idp.mode = mode
    const { url } = await startApp(t, { JWT_SECRET: undefined, JWT_JWKS_URL: idp.url })
    const good = sign(rsa.privateKey, 'RS256', 'k1')
    let started = Date.now()
    t.match(await http(`${url}/v1/presence/bob`, { token: good }), { status: 503, body: { code: 'unavailable' } })
    t.ok(Date.now() - started < 2000, `REST answered in ${Date.now() - started} ms`)
    started = Date.now()
    t.equal(await refusal(connect(url, good)), 'unavailable')
    t.ok(Date.now() - started < 2000, `handshake answered in ${Date.now() - started} ms`)
    idp.mode = 'up'
    t.equal((await http(`${url}/v1/presence/bob`, { token: good })).status, 200, 'accepted once the key set is fetched')
    t.equal((await connect(url, good)).connected, true)
  })
}
