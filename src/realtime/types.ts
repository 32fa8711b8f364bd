/**
 * Typed event maps and socket data for Socket.IO. The types document the contract (SPEC §5);
 * they never replace runtime validation, which every handler does with compiled schemas.
 */
import type { Server, Socket, Namespace } from 'socket.io'
import type { Static } from '../schemas/type.js'
import type { MainServerEvents } from '../schemas/events.js'
import type { AckError, ErrorDetail } from '../errors.js'
import type { Principal } from '../domain/principal.js'

export type Ack<T extends object = object> = (answer: ({ ok: true } & T) | AckError) => void
type Handler = (payload: unknown, ack?: Ack<any>) => void

export interface ClientToServerEvents {
  'room:join': Handler
  'room:leave': Handler
  'message:send': Handler
  'history:fetch': Handler
  typing: Handler
  'receipt:read': Handler
  'presence:subscribe': Handler
  'presence:unsubscribe': Handler
  'auth:refresh': Handler
  'stats:get': Handler
  'user:disconnect': Handler
}

/**
 * Server → client events of both namespaces, typed from the contract's TypeBox tables
 * (src/schemas/events.ts) — the ones the typed client and the AsyncAPI document are built from —
 * so an emit that drifts from the contract fails this build, not only the client's.
 */
export type ServerToClientEvents = {
  [E in keyof typeof MainServerEvents]: (payload: Static<typeof MainServerEvents[E]['payload']>) => void
}

export interface InterServerEvents {}

export interface SocketData {
  principal: Principal
  /** client IP as seen by the server, for per-IP limits and logs */
  ip: string
}

export type AppServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>
export type AppNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>
export type AppSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

export type { ErrorDetail }
