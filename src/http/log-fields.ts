/**
 * What a request log line says about the request: method, path (never the query string, where
 * a client may have put a token), the route pattern, host and client address. Tokens in headers
 * are never serialized at all (the logger's redact paths cover what other log lines may carry).
 */
import type { FastifyRequest } from 'fastify'

export function requestLogFields (request: FastifyRequest): Record<string, unknown> {
  const url = request.url ?? ''
  const q = url.indexOf('?')
  return {
    method: request.method,
    url: q === -1 ? url : url.slice(0, q),
    route: request.routeOptions?.url,
    host: request.host,
    remoteAddress: request.ip
  }
}
