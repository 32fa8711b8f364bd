/**
 * Every REST error speaks the contract (SPEC §4; issue 9 item 4), checked over the app's own
 * route table (collected with an onRoute hook while the app is built exactly as production
 * builds it), not route by route: every /v1 route refuses an anonymous caller with 401 before
 * looking at its input (bad params, bad query, bad body), and answers bad input from a valid
 * caller with a contract body. Plus the errors Fastify and CORS raise before any route: bad
 * percent-encoding, OPTIONS that is not a preflight, an unknown route; and token messages that
 * name the claim that is wrong.
 */
import t, { type Test } from 'tap'
import Fastify, { type RouteOptions } from 'fastify'
import app from '../../src/app.js'
import { serverOptions } from '../../src/build.js'
import { parseConfig } from '../../src/config.js'
import { baseEnv, http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'

const CODES = ['unauthorized', 'token_expired', 'forbidden', 'invalid_payload', 'not_found', 'not_in_room', 'payload_too_large', 'rate_limited', 'unavailable', 'internal']

async function start (t: Test, env: Record<string, string> = {}): Promise<{ url: string, routes: Array<{ method: string, url: string, body: boolean, query: boolean }> }> {
  const config = parseConfig(baseEnv({ RATE_LIMIT_HTTP_MAX: '0', ...env }))
  const fastify = Fastify(serverOptions(config))
  const routes: Array<{ method: string, url: string, body: boolean, query: boolean }> = []
  fastify.addHook('onRoute', (r: RouteOptions) => {
    for (const method of [r.method].flat()) {
      routes.push({ method, url: r.url, body: r.schema?.body !== undefined, query: r.schema?.querystring !== undefined })
    }
  })
  await fastify.register(app, { config })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await fastify.close() })
  const addr = fastify.server.address()
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`, routes }
}

/** a path of the route with every parameter filled in */
const fill = (url: string, value: string): string => url.replace(/:[A-Za-z]+/g, value)

function contract (t: Test, r: { status: number, body: any, headers: Headers }, what: string, status?: number): void {
  t.match(r.headers.get('content-type') ?? '', /^application\/json/, `${what}: JSON`)
  t.match(r.body, { statusCode: r.status, code: String, error: String, message: String }, `${what}: { statusCode, code, error, message }`)
  t.ok(CODES.includes(r.body?.code), `${what}: a contract code (${r.body?.code})`)
  if (status !== undefined) t.equal(r.status, status, `${what}: ${status}`)
}

t.test('every /v1 route: 401 for anonymous callers before any validation; contract bodies for bad input', async (t) => {
  const { url, routes } = await start(t)
  const v1 = routes.filter(r => r.url.startsWith('/v1/') && r.method !== 'HEAD')
  t.ok(v1.length >= 8, `the route table has the /v1 routes (${v1.map(r => `${r.method} ${r.url}`).join(', ')})`)
  const admin = token({ sub: 'root', role: 'admin' })
  for (const r of v1) {
    const name = `${r.method} ${r.url}`
    const body = r.body ? '{"unknown":1}' : undefined
    const calls: Array<[string, string]> = [
      ['valid input', fill(r.url, 'ok-1')],
      ['bad path parameter', fill(r.url, 'a%20b')],
      ['bad query string', `${fill(r.url, 'ok-1')}?limit=abc&x=1`]
    ]
    for (const [label, path] of calls) {
      const anon = await http(url + path, { method: r.method, ...(body !== undefined && { body }) })
      contract(t, anon, `${name} anonymous, ${label}`, 401)
      t.equal(anon.body.code, 'unauthorized')
      const expired = await http(url + path, { method: r.method, token: token({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 10 }), ...(body !== undefined && { body }) })
      contract(t, expired, `${name} expired token, ${label}`, 401)
      t.equal(expired.body.code, 'token_expired')
    }
    const badParam = await http(url + fill(r.url, 'a%20b'), { method: r.method, token: admin, ...(r.body && { body: '{}' }) })
    // a user id may hold a space; a room id may not
    if (r.url.includes(':roomId')) {
      contract(t, badParam, `${name} bad path parameter`, 400)
      t.equal(badParam.body.code, 'invalid_payload', `${name}: a room id with a space is invalid`)
    }
    if (r.query) contract(t, await http(`${url}${fill(r.url, 'ok-1')}?limit=abc`, { method: r.method, token: admin }), `${name} bad query`, 400)
    if (!r.body) {
      // every route refuses a query parameter it does not know (a mistyped one is never ignored)
      const unknown = await http(`${url}${fill(r.url, 'ok-1')}?unknownParam=1`, { method: r.method, token: admin })
      contract(t, unknown, `${name} unknown query parameter`, 400)
      t.equal(unknown.body.code, 'invalid_payload', `${name} unknown query parameter: invalid_payload`)
    }
    if (r.body) {
      const bad = await http(url + fill(r.url, 'ok-1'), { method: r.method, token: admin, body: '{"unknown":1}' })
      contract(t, bad, `${name} bad body`, 400)
      t.ok(Array.isArray(bad.body.details), `${name} bad body: details`)
      contract(t, await http(url + fill(r.url, 'ok-1'), { method: r.method, token: admin, body: '{not json' }), `${name} malformed JSON`, 400)
      contract(t, await http(url + fill(r.url, 'ok-1'), { method: r.method, token: admin, body: '{"a":1}', headers: { 'content-type': 'text/plain' } }), `${name} wrong content type`)
    }
    contract(t, await http(url + fill(r.url, '%E0%A4%A'), { method: r.method, token: admin }), `${name} bad percent-encoding`, 400)
    const options = await http(url + fill(r.url, 'ok-1'), { method: 'OPTIONS' })
    contract(t, options, `${name} OPTIONS without Access-Control-Request-Method`, 400)
  }
  contract(t, await http(`${url}/v1/nothing-here`, { token: admin }), 'unknown route', 404)
  contract(t, await http(`${url}/v1/rooms/%E0%A4%A/messages`), 'bad percent-encoding, anonymous', 400)
  const preflight = await http(`${url}/v1/presence/query`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } })
  t.equal(preflight.status, 204, 'a real preflight still works')
})

t.test('a token missing iss or aud is refused naming the claim', async (t) => {
  const { url } = await start(t, { JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'switchboard' })
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no iss', { aud: 'switchboard' }, /\biss\b/],
    ['no aud', { iss: 'https://idp.example' }, /\baud\b/],
    ['wrong iss', { iss: 'https://evil.example', aud: 'switchboard' }, /\biss\b/],
    ['wrong aud', { iss: 'https://idp.example', aud: 'other' }, /\baud\b/],
    // not strings (found by the issue 9 attack: "invalid token" named nothing)
    ['iss a number', { iss: 5 as unknown as string, aud: 'switchboard' }, /\biss\b/],
    ['aud a list holding a number', { iss: 'https://idp.example', aud: [5] as unknown as string }, /\baud\b/]
  ]
  for (const [name, claims, re] of cases) {
    const r = await http(`${url}/v1/presence/alice`, { token: token({ sub: 'a', ...claims }) })
    contract(t, r, name, 401)
    t.match(r.body.message, re, `${name}: ${r.body.message}`)
    t.notMatch(r.body.message, /\bexp\b/, `${name}: does not blame exp`)
  }
  const ok = await http(`${url}/v1/presence/alice`, { token: token({ sub: 'a', iss: 'https://idp.example', aud: 'switchboard' }) })
  t.equal(ok.status, 200)
})
