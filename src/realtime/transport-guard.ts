/**
 * Checks at the Engine.IO level, on every new session (a handshake request without `sid`, over
 * HTTP long-polling or a WebSocket upgrade), before Socket.IO sees anything:
 *
 * - CORS_ORIGINS (SPEC §2 "applies to the Socket.IO handshake, both transports"): a browser
 *   handshake whose `Origin` is not on a configured list is refused with HTTP 403. Socket.IO's
 *   `cors` option only sets response headers, which browsers ignore for WebSockets. Requests
 *   without `Origin` (not from a browser) pass, as with REST.
 * - RATE_LIMIT_CONNECTIONS_PER_10S per client IP (SPEC §7), counted per Engine.IO session, so a
 *   session that never completes the namespace handshake counts too. The verdict is given at
 *   the first namespace CONNECT as the contract's `connect_error` `rate_limited` (namespace
 *   middleware `refusal`), and a refused session is closed after REFUSED_SESSION_MS whether
 *   or not it ever connects.
 *
 * One entry point, `installTransportGuard(engine, opts)`, so it composes with other engine
 * middlewares (the drain's refusal).
 */
import { ServerResponse, type IncomingMessage } from 'node:http'
import { runWithDeadline } from '../deadline.js'
import { appError, toRestError, type AppError } from '../errors.js'
import { LIMITER_BUDGET_MS } from './limits.js'
import type { RateLimitDecision, WindowRule } from '../model/rate-window.js'
import { connectError } from './auth.js'
import type { Engine, EngineConn } from './protection.js'
import type { AppSocket } from './types.js'

/** how long a session over the per-IP limit may stay open (to receive its connect_error) */
export const REFUSED_SESSION_MS = 2000

export interface TransportGuardOptions {
  /** CORS_ORIGINS as parsed: '*' allows every origin; a list (or false: none) allows only those */
  origins: string[] | '*' | false
  connectionLimit?: {
    /** the client address of a handshake request (TRUST_PROXY, SPEC §2: always a valid IP) */
    addressOf: (req: IncomingMessage) => string
    /** the shared window limiter (a RateLimitStore) */
    store: { hit: (key: string, rule: WindowRule) => Promise<RateLimitDecision> }
    /** RATE_LIMIT_CONNECTIONS_PER_10S (> 0) */
    perTenSeconds: number
    /** the store key of an IP (stores/keys.ts) */
    keyOf: (ip: string) => string
    normalizeIp?: (ip: string) => string
    onRefused?: (ip: string) => void
    /** the store failed: the session is let through (a limiter must not take the service down with Redis) */
    onError?: (err: unknown) => void
  }
  /** while draining sessions are refused elsewhere: not counted */
  isDraining?: () => boolean
  onForeignOrigin?: (origin: string) => void
}

export interface TransportGuard {
  /** namespace middleware: refuses a socket whose Engine.IO session was over the per-IP limit */
  refusal: (socket: AppSocket, next: (err?: Error) => void) => void
}

type EngineRequest = IncomingMessage & { _query?: Record<string, string> }

/** Answers an HTTP request, or an upgrade request (engine.io passes a stand-in response), and ends it. */
function refuse (res: ServerResponse | { socket?: { write: (s: string) => void, destroy: () => void } }, status: number, body: object): void {
  const json = JSON.stringify(body)
  if (res instanceof ServerResponse) {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
    res.end(json)
    return
  }
  const socket = res.socket
  socket?.write(`HTTP/1.1 ${status} Forbidden\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`)
  socket?.destroy()
}

export function installTransportGuard (engine: Engine, opts: TransportGuardOptions): TransportGuard {
  const allowed = opts.origins === '*' ? undefined : new Set(opts.origins === false ? [] : opts.origins)
  const limit = opts.connectionLimit
  const rule: WindowRule | undefined = limit !== undefined ? { limit: limit.perTenSeconds, windowMs: 10_000 } : undefined
  const normalize = limit?.normalizeIp ?? ((ip: string) => ip)
  const refused = new WeakMap<IncomingMessage, AppError>()

  engine.use((req, res, next) => {
    const r = req as EngineRequest
    // only a new session; requests of an established one (polls, the upgrade of a polling session) carry its sid
    if (r._query?.sid !== undefined) return next()
    const origin = req.headers.origin
    if (allowed !== undefined && origin !== undefined && !allowed.has(origin)) {
      opts.onForeignOrigin?.(origin)
      refuse(res, 403, toRestError(appError('forbidden', 'origin not allowed (CORS_ORIGINS)')))
      return
    }
    if (limit === undefined || rule === undefined || opts.isDraining?.() === true) return next()
    const ip = normalize(limit.addressOf(req))
    // like the REST limiter: a Redis that does not answer within LIMITER_BUDGET_MS lets the session through
    runWithDeadline(LIMITER_BUDGET_MS, async () => await limit.store.hit(limit.keyOf(ip), rule)).then((d) => {
      if (!d.allowed) {
        limit.onRefused?.(ip)
        refused.set(req, appError('rate_limited', `too many new connections from this address; retry in ${d.retryAfterMs} ms`, { retryAfterMs: d.retryAfterMs }))
      }
      next()
    }, (err: unknown) => {
      limit.onError?.(err)
      next()
    })
  })

  engine.on('connection', (conn: EngineConn & { request?: IncomingMessage }) => {
    if (conn.request !== undefined && refused.has(conn.request)) {
      setTimeout(() => { conn.close() }, REFUSED_SESSION_MS).unref()
    }
  })

  return {
    refusal (socket, next) {
      const e = refused.get(socket.request)
      if (e === undefined) return next()
      const err = connectError(e)
      ;(err as Error & { data: Record<string, unknown> }).data.retryAfterMs = e.retryAfterMs
      next(err)
    }
  }
}
