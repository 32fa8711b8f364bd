/**
 * Malformed requests on the Engine.IO path (issue #17, F1). SPEC §4: every HTTP error is the
 * contract's JSON `{ statusCode, code, error, message }` with a contract code, and a client's
 * mistake is never a 5xx. Engine.IO answered a PUT, DELETE, PATCH or HEAD on a live polling
 * session with 500 and an empty body, and its own refusals (unknown sid, bad EIO, ...) with
 * `{ code: <number>, message }` or an empty 400. Raw HTTP here, as a fuzzer or a broken client
 * would send it; a real Socket.IO client over long-polling checks that nothing else changed.
 */
import t, { type Test } from 'tap'
import { startApp } from '../helpers/app.js'
import { connect, ack } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'

const EIO = '/socket.io/?EIO=4&transport=polling'

interface Answer { status: number, type: string | null, body: any }

async function send (url: string, query: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${url}/socket.io/?${query}`, { ...init, signal: AbortSignal.timeout(5000) })
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, type: res.headers.get('content-type'), body }
}

/** asserts the contract's error shape (SPEC §4) with `code` and its HTTP status */
function isContractError (t: Test, a: Answer, status: number, code: string, what: string): void {
  t.equal(a.status, status, `${what}: HTTP ${status}`)
  t.match(a.type, /^application\/json/, `${what}: JSON`)
  t.match(a.body, { statusCode: status, code, error: String, message: String }, `${what}: the contract's body, ${code}`)
  if (code === 'invalid_payload') t.match(a.body.details, [{ path: String, message: String }], `${what}: details`)
}

/** a polling session with its namespace CONNECT sent; its answer is not read yet */
async function session (url: string): Promise<string> {
  const open = await fetch(`${url}${EIO}`).then(async r => await r.text())
  const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid
  const r = await fetch(`${url}${EIO}&sid=${sid}`, { method: 'POST', body: `40${JSON.stringify({ token: token({ sub: 'raw' }) })}` })
  t.equal(await r.text(), 'ok')
  return sid
}

t.test('a method other than GET or POST is 400 invalid_payload, and the session goes on', async (t) => {
  const { url } = await startApp(t)
  const sid = await session(url)
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    isContractError(t, await send(url, `EIO=4&transport=polling&sid=${sid}`, { method, body: 'x' }), 400, 'invalid_payload', `${method} on a live session`)
    isContractError(t, await send(url, 'EIO=4&transport=polling', { method, body: 'x' }), 400, 'invalid_payload', `${method} as a handshake`)
  }
  const head = await send(url, `EIO=4&transport=polling&sid=${sid}`, { method: 'HEAD' })
  t.equal(head.status, 400, 'HEAD on a live session: 400, not 500')
  t.match(head.type, /^application\/json/)
  // the refused requests did not touch the session: its CONNECT answer is still there to read
  const poll = await send(url, `EIO=4&transport=polling&sid=${sid}`)
  t.equal(poll.status, 200)
  t.match(poll.body, /^40\{"sid":/, 'the session answers its CONNECT')
  // a CORS preflight is still answered by the CORS middleware
  const preflight = await fetch(`${url}${EIO}&sid=${sid}`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
  t.equal(preflight.status, 204, 'OPTIONS preflight: 204')
})

t.test('Engine.IO\'s own refusals keep their status and speak the contract', async (t) => {
  const { url } = await startApp(t, { MAX_FRAME_BYTES: '1024' })
  const cases: Array<[string, string, RequestInit, string]> = [
    ['unknown sid (poll)', 'EIO=4&transport=polling&sid=nope', {}, 'querystring/sid'],
    ['unknown sid (send)', 'EIO=4&transport=polling&sid=nope', { method: 'POST', body: '2' }, 'querystring/sid'],
    ['EIO=3', 'EIO=3&transport=polling', {}, 'querystring/EIO'],
    ['no EIO', 'transport=polling', {}, 'querystring/EIO'],
    ['unknown transport', 'EIO=4&transport=carrier-pigeon', {}, 'querystring/transport'],
    ['no query', '', {}, 'querystring/transport'],
    ['a websocket handshake without an upgrade', 'EIO=4&transport=websocket', {}, '/'],
    ['a POST handshake', 'EIO=4&transport=polling', { method: 'POST', body: '40' }, '/']
  ]
  for (const [what, query, init, path] of cases) {
    const a = await send(url, query, init)
    isContractError(t, a, 400, 'invalid_payload', what)
    t.equal(a.body.details?.[0]?.path, path, `${what}: details name ${path}`)
  }

  // the polling transport's own 400s (empty bodies before): a binary body on EIO 4, an overlapping poll
  let sid = await session(url)
  isContractError(t, await send(url, `EIO=4&transport=polling&sid=${sid}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x' }), 400, 'invalid_payload', 'a binary body')
  sid = await session(url)
  t.match((await send(url, `EIO=4&transport=polling&sid=${sid}`)).body, /^40/, 'the CONNECT answer is read; the next poll waits')
  const waiting = send(url, `EIO=4&transport=polling&sid=${sid}`)
  await new Promise(resolve => setTimeout(resolve, 200))
  isContractError(t, await send(url, `EIO=4&transport=polling&sid=${sid}`), 400, 'invalid_payload', 'an overlapping poll')
  t.equal((await waiting).status, 200, 'the waiting poll is ended by Engine.IO closing the session')

  // over MAX_FRAME_BYTES: 413 payload_too_large (and the session is closed, src/realtime/protection.ts)
  sid = await session(url)
  isContractError(t, await send(url, `EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: `42${JSON.stringify(['message:send', { roomId: 'r', text: 'x'.repeat(2000) }])}` }), 413, 'payload_too_large', 'a body over MAX_FRAME_BYTES')
})

t.test('a Socket.IO client over long-polling is unaffected', async (t) => {
  const { url } = await startApp(t)
  const s = await connect(url, token({ sub: 'alice' }), { transports: ['polling'] })
  t.equal((await ack(s, 'room:join', { roomId: 'lobby' })).ok, true)
  t.equal((await ack(s, 'message:send', { roomId: 'lobby', text: 'hi' })).ok, true)
  s.close()
})
