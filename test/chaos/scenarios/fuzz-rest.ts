/**
 * Generated REST requests for the fuzz scenario (S5): every route of SPEC §6 and made-up ones,
 * with fuzzed path segments, query strings (also broken percent-encoding), headers (tokens good
 * and bad, content types, Idempotency-Key) and bodies (JSON values, broken JSON, binary).
 */
import fc from 'fast-check'
import { token } from '../../helpers/tokens.js'

export interface RestCase { method: string, path: string, query: string, headers: Record<string, string>, body: string | Buffer | undefined }

const ROOM = 'fuzz-room'
const segment = fc.oneof(
  fc.constant(ROOM), fc.constant('user:x'), fc.stringMatching(/^[A-Za-z0-9_.:-]{1,129}$/),
  fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constantFrom('%zz', '%00', '..', '%2e%2e', 'a%2Fb', '%C0%AF', 'x'.repeat(300))
)
const path = fc.oneof(
  fc.constant(`/v1/rooms/${ROOM}/messages`),
  segment.map(r => `/v1/rooms/${r}/messages`),
  segment.map(r => `/v1/rooms/${r}/receipts`),
  segment.map(r => `/v1/rooms/${r}/presence`),
  segment.map(u => `/v1/presence/${u}`),
  fc.constant('/v1/presence/query'),
  segment.map(u => `/v1/users/${u}/notifications`),
  segment.map(u => `/v1/users/${u}/connections`),
  fc.constantFrom('/health/ready', '/health/live', '/v1', '/', '/v2/rooms', '/v1/rooms//messages'),
  fc.string({ maxLength: 20 }).map(s => `/${encodeURIComponent(s)}`)
)
const qvalue = fc.oneof(fc.integer({ min: -10, max: 1000 }).map(String), fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constantFrom('%zz', '', '0-0', '1-1', '9999999999999-0', 'abc-def', '[]', '1e3'))
const query = fc.array(fc.tuple(fc.constantFrom('limit', 'before', 'after', 'x', 'limit[]', '__proto__'), qvalue), { maxLength: 4 })
  .map(ps => ps.length === 0 ? '' : '?' + ps.map(([k, v]) => `${k}=${v}`).join('&'))
const auth = fc.constantFrom(
  `Bearer ${token({ sub: 'fuzz-svc', role: 'service' }, { ttlS: 6 * 3600 })}`,
  `Bearer ${token({ sub: 'fuzz-user' }, { ttlS: 6 * 3600 })}`,
  `Bearer ${token({ sub: 'fuzz-old' }, { ttlS: -60 })}`,
  'Bearer ', 'Bearer x.y.z', 'Basic Zm9vOmJhcg==', 'bearer', '', `Bearer ${'a'.repeat(5000)}`
)
const jsonBody = fc.oneof(
  fc.record({ text: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('z'.repeat(4001))), clientMsgId: fc.uuid(), meta: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }, { requiredKeys: ['text'] }).map(o => JSON.stringify(o)),
  fc.record({
    text: fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.constant('z'.repeat(4001))),
    userId: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('fuzz-svc')),
    name: fc.string({ maxLength: 10 }),
    meta: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), fc.constant({ big: 'y'.repeat(2100) })),
    clientMsgId: fc.oneof(fc.uuid(), fc.string({ maxLength: 150 })),
    userIds: fc.oneof(fc.array(fc.string({ maxLength: 6 }), { maxLength: 4 }), fc.constant(Array.from({ length: 1001 }, (_, i) => `u${i}`))),
    type: fc.string({ maxLength: 10 }),
    data: fc.jsonValue({ maxDepth: 2 })
  }, { requiredKeys: [] }).map(o => JSON.stringify(o)),
  fc.jsonValue({ maxDepth: 3 }).map(v => JSON.stringify(v)),
  fc.constantFrom('{"text":"a","meta":{"__proto__":{"x":1}}}', '{"text":"a","constructor":{}}', '{', '{"text":"a"', 'null', '', '[]', '"str"', `{"text":"deep","meta":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`),
  fc.string({ maxLength: 40 })
)
const body = fc.oneof({ weight: 5, arbitrary: jsonBody }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map(u => Buffer.from(u)) }, { weight: 1, arbitrary: fc.constant(undefined) })

export const restCase: fc.Arbitrary<RestCase> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'),
  path,
  query,
  authorization: auth,
  contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'APPLICATION/JSON', 'application/json; charset=latin1', ''),
  idempotencyKey: fc.option(fc.oneof(fc.uuid(), fc.string({ maxLength: 200 }).filter(s => /^[\x20-\x7e]*$/.test(s)))),
  extra: fc.option(fc.constantFrom<[string, string]>(['x-forwarded-for', 'not-an-ip, 1.2.3.4'], ['origin', 'http://evil.example'], ['accept', 'text/html'], ['content-encoding', 'gzip'], ['x-http-method-override', 'DELETE'])),
  body
}).map(c => {
  const headers: Record<string, string> = {}
  if (c.authorization !== '') headers.authorization = c.authorization
  if (c.contentType !== '' && c.body !== undefined) headers['content-type'] = c.contentType
  if (c.idempotencyKey !== null) headers['idempotency-key'] = c.idempotencyKey
  if (c.extra !== null) headers[c.extra[0]] = c.extra[1]
  return { method: c.method, path: c.path, query: c.query, headers, body: c.body }
})
