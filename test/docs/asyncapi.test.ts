/**
 * `GET /docs/asyncapi.json` (SPEC §6): a valid AsyncAPI 3.0 document (checked by
 * @asyncapi/parser: the spec's JSON schema, references and its rule set) that lists exactly the
 * socket events the server handles — the listeners a connected socket really has on `/` and
 * `/admin` — and every event the server emits, so a handler or emit without a document entry
 * fails here. Also: it is linked from the OpenAPI document shown at /docs.
 */
import t from 'tap'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Parser } from '@asyncapi/parser'
import { http, startInner } from '../helpers/app.js'
import { connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { ADMIN_EVENTS } from '../../src/realtime/connection.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
// Socket.IO's own events and the ones its adapters add: not part of the API
const RESERVED = new Set(['disconnect', 'disconnecting', 'error', 'newListener', 'removeListener'])

interface Doc {
  channels: Record<string, { address: string, messages: Record<string, { name: string }> }>
  operations: Record<string, { action: 'send' | 'receive', channel: { $ref: string }, messages: Array<{ $ref: string }>, reply?: unknown }>
}

function events (doc: Doc, address: string, action: 'send' | 'receive'): string[] {
  const id = Object.entries(doc.channels).find(([, c]) => c.address === address)?.[0]
  const out: string[] = []
  for (const op of Object.values(doc.operations)) {
    if (op.action !== action || op.channel.$ref !== `#/channels/${id}`) continue
    for (const m of op.messages) out.push(doc.channels[id as string].messages[m.$ref.split('/').pop() as string].name)
  }
  return out.filter(e => e !== 'connect_error').sort()
}

/** Event names passed as a literal to `.emit(` in the server's sources (not the client's). */
async function emittedInSources (): Promise<Set<string>> {
  const found = new Set<string>()
  for (const dir of ['src', 'plugins', 'routes']) {
    for (const f of await readdir(join(ROOT, dir), { recursive: true })) {
      if (!f.endsWith('.ts') || f.startsWith('client')) continue
      const text = await readFile(join(ROOT, dir, f), 'utf8')
      for (const m of text.matchAll(/\.emit\(\s*'([^']+)'/g)) found.add(m[1])
    }
  }
  return found
}

t.test('GET /docs/asyncapi.json', async (t) => {
  const { url, inner: app } = await startInner(t)
  const res = await http(`${url}/docs/asyncapi.json`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /application\/json/)
  const doc = res.body as Doc

  const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc))
  const errors = diagnostics.filter(d => d.severity === 0)
  t.same(errors.map(d => `${d.code} ${d.path.join('/')}: ${d.message}`), [], 'no errors from @asyncapi/parser')
  t.ok(document, 'parsed')
  t.equal(document?.version(), '3.0.0')

  // what the server really handles: the listeners of a connected socket on each namespace
  const user = await connect(url, token({ sub: 'doc-user' }))
  const admin = await connect(url, token({ sub: 'doc-admin', role: 'admin' }), { namespace: '/admin' })
  const [userSocket] = app.io.of('/').sockets.values()
  const [adminSocket] = app.io.of('/admin').sockets.values()
  const handled = (s: { eventNames: () => Array<string | symbol> }): string[] =>
    s.eventNames().filter((e): e is string => typeof e === 'string' && !RESERVED.has(e)).sort()
  t.same(events(doc, '/', 'receive'), handled(userSocket), 'namespace / : the document lists exactly the handled events')
  t.same(events(doc, '/', 'receive'), [...app.socketEvents].sort(), 'and exactly knownEvents')
  t.same(events(doc, '/admin', 'receive'), handled(adminSocket), 'namespace /admin: exactly the handled events')
  t.same(events(doc, '/admin', 'receive'), [...ADMIN_EVENTS].sort(), 'and exactly ADMIN_EVENTS')
  user.close()
  admin.close()

  const emitted = await emittedInSources()
  const documented = new Set(events(doc, '/', 'send'))
  t.same([...emitted].filter(e => !documented.has(e)), [], 'every event the server emits is documented')
  t.same([...documented].filter(e => !emitted.has(e)), [], 'and nothing else')

  t.same(Object.values(doc.operations).filter(op => op.action === 'receive' && op.reply === undefined), [], 'every client event documents its ack')
  const codes = (doc.channels.main.messages.connect_error as unknown as { payload: { properties: { message: { enum: string[] } } } }).payload.properties.message.enum
  t.same(codes.sort(), ['rate_limited', 'token_expired', 'unauthorized', 'unavailable'], 'handshake refusals of /')

  const openapi = await http(`${url}/docs/json`)
  t.match(openapi.body.info.description, /\/docs\/asyncapi\.json/, 'linked from /docs')
})
