/**
 * Errors raised below the app, found by a new user trying to break it: they too speak the
 * contract (SPEC §4 `{ statusCode, code, error, message }`, `details` with invalid_payload).
 * Node's HTTP parser (headers over its size limit, a malformed request line), a body that is not
 * JSON, and a handshake token that is not a string.
 */
import t from 'tap'
import { connect as netConnect } from 'node:net'
import { startApp, http } from '../helpers/app.js'
import { connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'

/** Sends raw bytes and resolves with the whole answer (the server closes after it). */
async function raw (port: number, request: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => { s.write(request) })
    let out = ''
    s.on('data', (d: Buffer) => { out += d.toString() })
    s.on('end', () => resolve(out))
    s.on('error', reject)
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('no answer')) })
  })
}

function bodyOf (answer: string): any {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
}

t.test('parser errors, non-JSON bodies and non-string tokens get contract answers', async (t) => {
  const { url } = await startApp(t)
  const port = Number(new URL(url).port)

  const big = await raw(port, `GET /v1/presence/alice HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(big, /^HTTP\/1\.1 413 /, 'headers too large: 413')
  t.match(bodyOf(big), { statusCode: 413, code: 'payload_too_large', error: String, message: /headers/ })

  const garbage = await raw(port, 'NOT A REQUEST\r\n\r\n')
  t.match(garbage, /^HTTP\/1\.1 400 /, 'malformed request line: 400')
  t.match(bodyOf(garbage), { statusCode: 400, code: 'invalid_payload', details: [{ path: '/' }] })

  const form = await http(`${url}/v1/rooms/lobby/messages`, {
    token: token({ sub: 'svc', role: 'service' }),
    body: 'text=hello',
    headers: { 'content-type': 'application/x-www-form-urlencoded' }
  })
  t.equal(form.status, 400)
  t.match(form.body, { code: 'invalid_payload', details: [{ path: '/', message: /application\/json/ }] }, 'a form body is invalid_payload with details')

  const err = await connect(url, 42 as unknown as string).then(() => undefined, (e: Error & { data?: any }) => e)
  t.equal(err?.message, 'unauthorized')
  t.match(err?.data?.message, /must be a string/, 'a non-string token is called malformed, not missing')
})
