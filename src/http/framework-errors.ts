/**
 * REST errors Fastify and @fastify/cors answer on their own, before any route or error handler
 * (SPEC §4: every REST error is `{ statusCode, code, error, message }` with a contract code):
 * a path that cannot be percent-decoded, a parameter past maxParamLength, and an OPTIONS request
 * that is not a CORS preflight.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { appError, normalizeError, toRestError } from '../errors.js'

/** The `frameworkErrors` server option: errors raised while routing. */
export function frameworkErrors (err: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  const e = err.code === 'FST_ERR_BAD_URL'
    ? appError('invalid_payload', 'the path is not valid percent-encoding', { details: [{ path: '/', message: 'malformed percent-encoding in the URL path' }] })
    : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? appError('invalid_payload', 'a path parameter is too long', { details: [{ path: '/', message: 'path parameter too long' }] })
      : normalizeError(err)
  const body = toRestError(e)
  reply.code(body.statusCode).send(body)
}

/**
 * onRequest hook, ahead of @fastify/cors: an OPTIONS request without `Origin` or
 * `Access-Control-Request-Method` is not a preflight; it is refused in the contract's shape
 * (@fastify/cors' strict mode would answer 400 text/plain).
 */
export async function requirePreflight (request: FastifyRequest): Promise<void> {
  if (request.method !== 'OPTIONS') return
  const missing = ['origin', 'access-control-request-method'].filter(h => request.headers[h] === undefined)
  if (missing.length > 0) {
    throw appError('invalid_payload', `not a CORS preflight: missing ${missing.join(', ')}`, {
      details: missing.map(h => ({ path: `headers/${h}`, message: 'is required in a CORS preflight' }))
    })
  }
}

/**
 * The `clientErrorHandler` server option: errors Node's HTTP parser raises before Fastify sees a
 * request (headers over the size limit, a malformed request line), answered in the contract's
 * shape too. Headers that are too large are `payload_too_large` (413); anything else the parser
 * refuses is `invalid_payload` (400).
 */
export function clientErrorHandler (err: Error & { code?: string }, socket: import('node:net').Socket): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const e = err.code === 'HPE_HEADER_OVERFLOW'
    ? appError('payload_too_large', 'request headers are too large')
    : appError('invalid_payload', 'malformed HTTP request', { details: [{ path: '/', message: 'the request could not be parsed' }] })
  const body = JSON.stringify(toRestError(e))
  socket.end(`HTTP/1.1 ${e.statusCode} ${e.statusCode === 413 ? 'Payload Too Large' : 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}
