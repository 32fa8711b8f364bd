/**
 * What a request log line says about the request: method, path (never the query string, where
 * a client may have put a token), the route pattern, host and client address (TRUST_PROXY, SPEC
 * §2: always a valid IP). Tokens in headers are never serialized at all (the logger's redact
 * paths cover what other log lines may carry).
 */
import type { FastifyRequest } from 'fastify'
import type { ClientAddress } from '../net/client-address.js'

/** a JWT (three base64url parts, the first a JSON header) pasted into a path never reaches a log */
const JWT_IN_PATH = /eyJ[\w-]*\.[\w-]+\.[\w-]*/g
export function redactTokens (path: string): string {
  return path.includes('eyJ') ? path.replace(JWT_IN_PATH, '<redacted>') : path
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
