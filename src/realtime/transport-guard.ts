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
 * And on every Engine.IO HTTP request (SPEC §4: every HTTP error is the contract's JSON with a
 * contract code, never a 5xx for a client's mistake):
 *
 * - A method other than GET and POST (OPTIONS is answered before, by engine.io's CORS
 *   middleware) is refused with 400 `invalid_payload`: Engine.IO's polling transport would
 *   answer it 500 with an empty body on a live session, and 400 `{ code: 2 }` on a handshake.
 * - Every other error Engine.IO answers on its own keeps its HTTP status and gets the contract's
 *   body (`engineErrorsInContract`): its 400s (unknown transport, unknown `sid`, unsupported
 *   `EIO`, a POST handshake, an overlapping poll, a binary body on EIO 4) are `invalid_payload`
 *   with the query parameter at fault in `details`, its 403 `forbidden`, its 413 (a body over
 *   MAX_FRAME_BYTES) `payload_too_large`. A refused WebSocket upgrade keeps Engine.IO's plain
 *   400 (a WebSocket client never reads the body of a refused upgrade).
 *
 * One entry point, `installTransportGuard(engine, opts)`, so it composes with other engine
 * middlewares (the drain's refusal).
 */
import { ServerResponse, STATUS_CODES, type IncomingMessage } from 'node:http'
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
    /** `deadline`: epoch ms after which the Redis call is abandoned (src/deadline.ts) */
    store: { hit: (key: string, rule: WindowRule, deadline?: number) => Promise<RateLimitDecision> }
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
  socket?.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`)
  socket?.destroy()
}

/** Engine.IO's error codes (engine.io `Server.errors`) → the part of the request at fault */
const ENGINE_ERROR_PATH: Record<number, string> = {
  0: 'querystring/transport', // UNKNOWN_TRANSPORT
  1: 'querystring/sid', // UNKNOWN_SID
  5: 'querystring/EIO' // UNSUPPORTED_PROTOCOL_VERSION
}

/** The contract's error for an error answer Engine.IO wrote itself (`status`, and its body if any). */
function engineError (status: number, body: unknown): AppError {
  let reason: { code?: unknown, message?: unknown } = {}
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try { reason = JSON.parse(String(body)) as typeof reason } catch {}
  }
  const said = typeof reason.message === 'string' && reason.message !== '' ? reason.message : undefined
  if (status === 403) return appError('forbidden', `Engine.IO: ${said ?? 'forbidden'}`)
  if (status === 413) return appError('payload_too_large', 'the request body is over MAX_FRAME_BYTES')
  if (status >= 500) return appError('internal', 'internal error')
  // the 400s: engine.io's verify() says why; the polling transport's own 400s say nothing
  const message = said ?? 'not a valid request for this Engine.IO session (an overlapping request, or a binary body)'
  const path = typeof reason.code === 'number' ? ENGINE_ERROR_PATH[reason.code] ?? '/' : '/'
  return appError('invalid_payload', `Engine.IO: ${message}`, { details: [{ path, message }] })
}

/**
 * Makes the error answers Engine.IO writes on `res` speak the contract: an answer of status 400
 * or more is held at `writeHead` and written at `end` with the contract's body instead of
 * Engine.IO's (same status, except a 5xx, which is `internal`). Engine.IO always ends an error
 * answer right after its `writeHead`. Success answers pass untouched.
 */
function engineErrorsInContract (res: ServerResponse): void {
  const writeHead = res.writeHead
  const end = res.end
  let held: number | undefined
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (status < 400) return (writeHead as (...a: unknown[]) => ServerResponse).call(this, status, ...rest)
    held = status
    return this
  } as ServerResponse['writeHead']
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (held === undefined) return (end as (...a: unknown[]) => ServerResponse).apply(this, args)
    const body = toRestError(engineError(held, typeof args[0] === 'function' ? undefined : args[0]))
    const json = JSON.stringify(body)
    writeHead.call(this, body.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
    const cb = args.find((a): a is () => void => typeof a === 'function')
    return (end as (...a: unknown[]) => ServerResponse).call(this, json, ...(cb === undefined ? [] : [cb]))
  } as ServerResponse['end']
}

export function installTransportGuard (engine: Engine, opts: TransportGuardOptions): TransportGuard {
  const allowed = opts.origins === '*' ? undefined : new Set(opts.origins === false ? [] : opts.origins)
  const limit = opts.connectionLimit
  const rule: WindowRule | undefined = limit !== undefined ? { limit: limit.perTenSeconds, windowMs: 10_000 } : undefined
  const normalize = limit?.normalizeIp ?? ((ip: string) => ip)
  const refused = new WeakMap<IncomingMessage, AppError>()

  engine.use((req, res, next) => {
    const r = req as EngineRequest
    if (req.method !== 'GET' && req.method !== 'POST') {
      const method = String(req.method)
      refuse(res, 400, toRestError(appError('invalid_payload', `Engine.IO: method ${method} is not allowed (GET or POST)`, {
        details: [{ path: '/', message: `method ${method}: an Engine.IO request is a GET or a POST` }]
      })))
      // ends the chain; engine.io then finds the answer written and writes nothing more
      next(new Error('method not allowed'))
      return
    }
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
    limit.store.hit(limit.keyOf(ip), rule, Date.now() + LIMITER_BUDGET_MS).then((d) => {
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

  // after the refusals above, which write the contract's answers themselves
  engine.use((_req, res, next) => {
    if (res instanceof ServerResponse) engineErrorsInContract(res)
    next()
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
