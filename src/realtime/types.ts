/**
 * Typed event maps and socket data for Socket.IO. The types document the contract (SPEC §5);
 * they never replace runtime validation, which every handler does with compiled schemas.
 */
import type { Server, Socket, Namespace } from 'socket.io'
import type { Message, PresenceState } from '../schemas/common.js'
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

export interface ServerToClientEvents {
  'message:new': (message: Message) => void
  typing: (e: { roomId: string, userId: string, isTyping: boolean }) => void
  receipt: (e: { roomId: string, userId: string, messageId: string }) => void
  'room:presence': (e: { roomId: string, userId: string, status: 'joined' | 'left' }) => void
  presence: (state: PresenceState) => void
  notification: (n: { type: string, data: unknown, at: number }) => void
  'auth:expiring': (e: { expiresAt: number }) => void
  /** `reason` is set on the last one before a disconnect for being far over a limit (SPEC §7) */
  'rate:limited': (e: { event: string, retryAfterMs: number, reason?: 'rate_limited' }) => void
  'server:shutdown': (e: { reconnectInMs: number }) => void
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
