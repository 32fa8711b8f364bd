/**
 * One verdict per payload, whatever the transport (SPEC §4 "Payloads are JSON values"; issue 9
 * item 3). ONE table of payloads, each driven through the socket event and the REST route that
 * do the same thing (message:send ↔ POST /v1/rooms/:id/messages, presence:subscribe ↔ POST
 * /v1/presence/query; notification data has only the REST route), asserting the same code, the
 * same `details` paths, nothing written (history unchanged) and nothing broadcast (a marker
 * message is the barrier). Rows that cannot travel on one transport (binary in JSON) say so.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect, ack, collect, type ClientSocket } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { LIMITS_OFF } from '../delivery/lib.js'

const ROOM = 'verdict'

/** an object nested `levels` deep counted from the payload root, which is level 1 */
function nested (levels: number, array = false): unknown {
  let v: unknown = 1
  for (let i = 0; i < levels; i++) v = array ? [v] : { a: v }
  return v
}
/** JSON text nested `levels` deep (JSON.stringify itself recurses, and cannot write 6000 levels) */
function nestedJson (levels: number, array = false): string {
  return (array ? '[' : '{"a":').repeat(levels) + '1' + (array ? ']' : '}').repeat(levels)
}
/** `JSON.parse` makes an own `__proto__` key, as a client's JSON would carry it */
const withKey = (key: string): Record<string, unknown> => JSON.parse(`{"${key}": {"x": 1}}`)

type Kind = 'send' | 'presence' | 'notify'
interface Row {
  name: string
  kind: Kind
  /** the payload as REST would send it (the socket adds roomId for message:send) */
  body?: Record<string, unknown>
  /** or its JSON text, for payloads too deep for JSON.stringify (sent as a raw packet) */
  json?: string
  want: 'ok' | 'invalid_payload'
  /** binary cannot be written in a JSON body */
  socketOnly?: boolean
  /** the two transports name different paths (a field one of them does not have at all) */
  pathsDiffer?: boolean
}

let rawAckId = 1_000_000
/** Emits `[event, payload]` with an ack as a hand-written Socket.IO EVENT packet (`2<id>[...]`). */
async function rawAck (socket: ClientSocket, event: string, payloadJson: string): Promise<any> {
  const id = rawAckId++
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ack')), 5000)
    ;(socket as unknown as { acks: Record<number, (a: unknown) => void> }).acks[id] = (answer) => { clearTimeout(timer); resolve(answer) }
    ;(socket.io as unknown as { engine: { write: (d: string) => void } }).engine.write(`2${id}[${JSON.stringify(event)},${payloadJson}]`)
  })
}

// depth: payload root = 1, meta = 2, so meta holding nested(31) reaches 33 levels
const rows: Row[] = [
  { name: 'a valid message', kind: 'send', body: { text: 'fine', meta: { a: [1, { b: 2 }] } }, want: 'ok' },
  { name: 'text is a number', kind: 'send', body: { text: 123 }, want: 'invalid_payload' },
  { name: 'text is a boolean', kind: 'send', body: { text: true }, want: 'invalid_payload' },
  { name: 'clientMsgId is a number', kind: 'send', body: { text: 'x', clientMsgId: 42 }, want: 'invalid_payload' },
  { name: 'userId is a number', kind: 'send', body: { text: 'x', userId: 5 }, want: 'invalid_payload', pathsDiffer: true },
  { name: 'meta is an array', kind: 'send', body: { text: 'x', meta: ['a'] }, want: 'invalid_payload' },
  { name: 'meta with a __proto__ key', kind: 'send', body: { text: 'x', meta: withKey('__proto__') }, want: 'invalid_payload' },
  { name: 'meta with a constructor key', kind: 'send', body: { text: 'x', meta: withKey('constructor') }, want: 'invalid_payload' },
  { name: 'meta with a nested prototype key', kind: 'send', body: { text: 'x', meta: { ok: [{ deep: withKey('prototype') }] } }, want: 'invalid_payload' },
  { name: 'a __proto__ key at the root', kind: 'send', body: { text: 'x', ...withKey('__proto__') }, want: 'invalid_payload', pathsDiffer: true },
  { name: 'meta nested to exactly 32 levels', kind: 'send', body: { text: 'x', meta: { n: nested(30) } }, want: 'ok' },
  { name: 'meta objects nested to 33 levels', kind: 'send', body: { text: 'x', meta: { n: nested(31) } }, want: 'invalid_payload' },
  { name: 'meta arrays nested to 33 levels', kind: 'send', body: { text: 'x', meta: { n: nested(31, true) } }, want: 'invalid_payload' },
  { name: 'meta nested 6000 levels (36 KB)', kind: 'send', json: `{"text":"x","meta":{"n":${nestedJson(6000)}}}`, want: 'invalid_payload' },
  { name: 'a Buffer in meta', kind: 'send', body: { text: 'x', meta: { b: Buffer.from([1, 2, 3]) } }, want: 'invalid_payload', socketOnly: true },
  { name: 'a Uint8Array deep in meta', kind: 'send', body: { text: 'x', meta: { a: [{ b: new Uint8Array([1]) }] } }, want: 'invalid_payload', socketOnly: true },
  { name: 'an ArrayBuffer as text', kind: 'send', body: { text: new ArrayBuffer(4) }, want: 'invalid_payload', socketOnly: true },
  { name: 'valid userIds', kind: 'presence', body: { userIds: ['a', 'b'] }, want: 'ok' },
  { name: 'userIds is a string', kind: 'presence', body: { userIds: 'a' }, want: 'invalid_payload' },
  { name: 'userIds holds a number', kind: 'presence', body: { userIds: [5] }, want: 'invalid_payload' },
  { name: 'a constructor key next to userIds', kind: 'presence', body: { userIds: ['a'], ...withKey('constructor') }, want: 'invalid_payload', pathsDiffer: true },
  { name: 'a binary user id', kind: 'presence', body: { userIds: [Buffer.from('a')] }, want: 'invalid_payload', socketOnly: true },
  { name: 'a valid notification', kind: 'notify', body: { type: 't', data: { n: nested(30) } }, want: 'ok' },
  { name: 'notification type is a number', kind: 'notify', body: { type: 1, data: {} }, want: 'invalid_payload' },
  { name: 'notification data nested 5000 levels', kind: 'notify', json: `{"type":"t","data":${nestedJson(5000)}}`, want: 'invalid_payload' },
  { name: 'userIds nested 5000 levels', kind: 'presence', json: `{"userIds":${nestedJson(5000, true)}}`, want: 'invalid_payload' },
  { name: 'notification data with a __proto__ key', kind: 'notify', body: { type: 't', data: [withKey('__proto__')] }, want: 'invalid_payload' }
]

t.test('the same payload gets the same verdict on both transports', async (t) => {
  const { url } = await startApp(t, LIMITS_OFF)
  const service = token({ sub: 'svc', role: 'service' })
  const sender = await connect(url, token({ sub: 'alice' }))
  const receiver = await connect(url, token({ sub: 'bob' }))
  for (const s of [sender, receiver]) t.equal((await ack(s, 'room:join', { roomId: ROOM })).ok, true)
  const broadcast = collect<{ text: string }>(receiver, 'message:new')
  const notified = collect<{ type: string }>(receiver, 'notification')
  const historyLength = async (): Promise<number> => (await http(`${url}/v1/rooms/${ROOM}/messages?limit=100`, { token: service })).body.messages.length

  const viaSocket = async (row: Row): Promise<any> => {
    const event = row.kind === 'send' ? 'message:send' : row.kind === 'presence' ? 'presence:subscribe' : undefined
    if (event === undefined) return undefined
    if (row.json !== undefined) return await rawAck(sender, event, row.kind === 'send' ? `{"roomId":"${ROOM}",${row.json.slice(1)}` : row.json)
    return await ack(sender, event, row.kind === 'send' ? { roomId: ROOM, ...row.body } : row.body)
  }
  const viaRest = async (row: Row): Promise<{ status: number, body: any }> => {
    const path = row.kind === 'send' ? `/v1/rooms/${ROOM}/messages` : row.kind === 'presence' ? '/v1/presence/query' : '/v1/users/bob/notifications'
    return await http(url + path, { token: service, body: row.json ?? JSON.stringify(row.body) })
  }

  let marker = 0
  for (const row of rows) {
    const before = await historyLength()
    const notifiedBefore = notified.length
    const s = await viaSocket(row)
    const r = row.socketOnly === true ? undefined : await viaRest(row)
    const socketCode = s === undefined ? undefined : s.ok === true ? 'ok' : s.error.code
    const restCode = r === undefined ? undefined : r.status < 300 ? 'ok' : r.body.code
    if (s !== undefined) t.equal(socketCode, row.want, `${row.name}: socket`)
    if (r !== undefined) t.equal(restCode, row.want, `${row.name}: REST (${r.status})`)
    if (row.want === 'invalid_payload') {
      if (r !== undefined) {
        t.equal(r.status, 400, `${row.name}: REST 400`)
        t.match(r.body, { statusCode: 400, code: 'invalid_payload', error: String, message: String }, `${row.name}: the contract's body`)
        t.ok(Array.isArray(r.body.details) && r.body.details.length > 0, `${row.name}: REST carries details`)
      }
      if (s !== undefined) t.ok(Array.isArray(s.error.details) && s.error.details.length > 0, `${row.name}: the ack carries details`)
      if (s !== undefined && r !== undefined && row.pathsDiffer !== true) {
        t.same(r.body.details.map((d: { path: string }) => d.path), s.error.details.map((d: { path: string }) => d.path), `${row.name}: the same paths`)
      }
      if (row.kind === 'send') t.equal(await historyLength(), before, `${row.name}: nothing written`)
      // barrier: whatever the row broadcast arrives before the marker
      const text = `marker ${++marker}`
      const seen = broadcast.length
      const m = await ack(sender, 'message:send', { roomId: ROOM, text })
      t.equal(m.ok, true)
      await waitFor(() => broadcast.some(b => b.text === text))
      t.same(broadcast.slice(seen).map(b => b.text), [text], `${row.name}: nothing broadcast`)
      if (row.kind === 'notify') {
        const n = await http(`${url}/v1/users/bob/notifications`, { token: service, body: { type: text } })
        t.equal(n.status, 202)
        await waitFor(() => notified.some(x => x.type === text))
        t.same(notified.slice(notifiedBefore).map(x => x.type), [text], `${row.name}: no notification emitted`)
      }
    }
  }
})

async function waitFor (check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error('barrier not reached')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
