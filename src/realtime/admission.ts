/**
 * Refusing new sessions while the instance drains (SPEC §8 "Graceful drain"), in ways that
 * clients and balancers retry elsewhere:
 *
 * - An Engine.IO handshake (a polling GET or a websocket upgrade without `sid`) is answered
 *   HTTP 503 with `Retry-After`. socket.io-client treats a transport error as temporary and
 *   reconnects with backoff; nginx can pass it to the next upstream (`proxy_next_upstream
 *   http_503`). Requests of sessions that already exist (with `sid`) go on until the drain
 *   closes them.
 * - A transport that was accepted just before the drain and asks for a namespace after it
 *   (the CONNECT packet, or a session restored by connection state recovery) has its transport
 *   closed: the client sees `transport close` and reconnects. Never a namespace `connect_error`
 *   or `io server disconnect`, which socket.io-client treats as final.
 */
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { appError, toRestError } from '../errors.js'
import type { AppSocket } from './types.js'

/** Seconds a refused client is told to wait (`Retry-After`); socket.io-client uses its own backoff. */
const RETRY_AFTER_S = 1

const BODY = JSON.stringify(toRestError(appError('unavailable', 'this instance is draining; connect to another one')))

type EngineRequest = IncomingMessage & { _query?: Record<string, string> }
/** engine.io passes a ServerResponse for HTTP requests and its WebSocketResponse (with the raw socket) for upgrades */
type EngineResponse = ServerResponse | { socket: Duplex }

/**
 * An Engine.IO middleware (`io.engine.use`) that answers new sessions with HTTP 503 while
 * `isDraining()` is true. It runs after engine.io's own CORS middleware, so a browser on an
 * allowed origin can read the refusal; it ends the response itself and then fails the
 * middleware chain, which engine.io ends without writing anything more.
 */
export function drainAdmission (isDraining: () => boolean, onRefused?: (transport: 'polling' | 'websocket') => void) {
  return function refuseWhileDraining (req: EngineRequest, res: EngineResponse, next: (err?: Error) => void): void {
    const sid = req._query?.sid ?? new URL(req.url ?? '/', 'http://x').searchParams.get('sid')
    if (!isDraining() || (sid !== null && sid !== undefined && sid !== '')) return next()
    if (res instanceof ServerResponse) {
      onRefused?.('polling')
      if (!res.headersSent) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': String(RETRY_AFTER_S), connection: 'close' })
      }
      res.end(BODY)
    } else {
      onRefused?.('websocket')
      const socket = res.socket
      socket.on('error', () => {})
      if (socket.writable) {
        socket.write('HTTP/1.1 503 Service Unavailable\r\n' +
          'Connection: close\r\n' +
          'Content-Type: application/json\r\n' +
          `Retry-After: ${RETRY_AFTER_S}\r\n` +
          `Content-Length: ${Buffer.byteLength(BODY)}\r\n\r\n` + BODY)
      }
      socket.end()
    }
    next(new Error('draining'))
  }
}

/**
 * A namespace middleware, first on every namespace: a CONNECT that arrives while draining (its
 * transport was accepted before) closes the transport instead of answering `connect_error`.
 * The error passed to `next` after the close is never sent: Socket.IO sees the transport is no
 * longer open and only cleans the pending socket up.
 */
export function closeWhileDraining (isDraining: () => boolean) {
  return function drainGate (socket: AppSocket, next: (err?: Error) => void): void {
    if (!isDraining()) return next()
    socket.conn.close()
    next(new Error('draining'))
  }
}

/**
 * For sockets that skipped the middlewares (restored by connection state recovery): true when
 * the instance drains, after closing the transport, so the client reconnects and recovers the
 * session on another instance (the session is persisted again on this `transport close`).
 */
export function closeIfDraining (socket: AppSocket, isDraining: () => boolean): boolean {
  if (!isDraining()) return false
  socket.conn.close()
  return true
}
