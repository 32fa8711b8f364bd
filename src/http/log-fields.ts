/**
 * What a request log line says about the request: method, path (never the query string, where
 * a client may have put a token), the route pattern, host and client address (TRUST_PROXY, SPEC
 * §2: always a valid IP). Tokens in headers are never serialized at all (the logger's redact
 * paths cover what other log lines may carry).
 */
import type { FastifyRequest } from 'fastify'
import type { ClientAddress } from '../net/client-address.js'

/**
 * A JWT (JWS compact form: three base64url parts, the first a JSON object) pasted into a path
 * never reaches a log, also when some of its characters are percent-encoded (`%65yJ…`, `%2E`):
 * the path is judged decoded, and a path holding a token is logged decoded, with the token
 * replaced. Any JSON header counts (`{"alg"` is `eyJ`, `{ "alg"` is `eyA`).
 */
const JWS_SHAPE = /[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*/g
const isJsonObject = (part: string): boolean => /^\s*\{/.test(Buffer.from(part, 'base64url').toString('latin1'))

function decodePath (path: string): string {
  if (!path.includes('%')) return path
  try {
    return decodeURIComponent(path)
  } catch {
    // not valid UTF-8 percent-encoding: decode byte by byte (a token is ASCII)
    return path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
}

export function redactTokens (path: string): string {
  const decoded = decodePath(path)
  if (!decoded.includes('.')) return path
  let found = false
  const redacted = decoded.replace(JWS_SHAPE, (m) => {
    if (!isJsonObject(m.slice(0, m.indexOf('.')))) return m
    found = true
    return '<redacted>'
  })
  return found ? redacted : path
}

export function requestLogFields (clientAddress: ClientAddress) {
  return function serializeRequest (request: FastifyRequest): Record<string, unknown> {
    const url = request.url ?? ''
    const q = url.indexOf('?')
    const raw = request.raw ?? request
    return {
      method: request.method,
      url: redactTokens(q === -1 ? url : url.slice(0, q)),
      route: request.routeOptions?.url,
      host: request.host,
      remoteAddress: clientAddress(raw.socket?.remoteAddress, raw.headers?.['x-forwarded-for'])
    }
  }
}
