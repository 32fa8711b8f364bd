/** Options and events of the client (SPEC §9). */
import type { ManagerOptions, SocketOptions } from 'socket.io-client'
import type { CatchUp } from './rooms.js'
import type { Message, NotificationEvent, PresenceState, ReceiptEvent, RoomPresenceEvent, TypingEvent } from './types.js'
import type { SwitchboardError } from './util.js'

export type TokenSource = string | (() => string | Promise<string>)

export interface ClientOptions {
  /** server origin, e.g. `https://chat.example.com` (one URL, typically behind a load balancer) */
  url: string
  /** a JWT, or an (async) provider called for the first connection and whenever a fresh one is due */
  token: TokenSource
  /** default: socket.io-client's (`polling` upgraded to `websocket`) */
  transports?: Array<'websocket' | 'polling' | 'webtransport'>
  /** answer timeout of every event, ms (default 5000) */
  ackTimeoutMs?: number
  /** how long `send` keeps retrying before it rejects, ms (default 30000) */
  sendTimeoutMs?: number
  /** reconnect backoff bounds, ms (default 500 … 30000), exponential with full jitter */
  backoffMinMs?: number
  backoffMaxMs?: number
  /**
   * the server's `MAX_FRAME_BYTES` (SPEC §7, default 65536): a send whose frame would be larger
   * is refused here with `payload_too_large` — the server would close the connection on it
   * (Socket.IO's transport rule), and a retry would only do that again
   */
  maxFrameBytes?: number
  /** at most one `typing: true` per room in this time, ms (default 2000) */
  typingThrottleMs?: number
  /** connect at once (default true); else call `connect()` */
  autoConnect?: boolean
  /** passed to socket.io-client's `io()` (path, extraHeaders, …) */
  socketOptions?: Partial<ManagerOptions & SocketOptions>
}

export type Status = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped'

export interface ClientEvents {
  /** a message of a joined room: each id once, in id order per room */
  message: (m: Message) => void
  status: (s: Status) => void
  connected: (e: { recovered: boolean }) => void
  disconnected: (e: { reason: string }) => void
  /** a room was rejoined after a reconnect that was not recovered */
  caughtUp: (e: CatchUp) => void
  /** messages after `since` may be lost (SPEC §5 `recovered: false`) */
  gap: (e: { roomId: string, since: string }) => void
  typing: (e: TypingEvent) => void
  receipt: (e: ReceiptEvent) => void
  roomPresence: (e: RoomPresenceEvent) => void
  presence: (e: PresenceState) => void
  notification: (e: NotificationEvent) => void
  tokenRefreshed: (e: { expiresAt: number }) => void
  shutdown: (e: { reconnectInMs: number }) => void
  /** the client will try again after `delayMs` (`kind` connect, send or join) */
  retry: (e: { kind: 'connect' | 'send' | 'join', code: string, delayMs: number, attempt: number }) => void
  /** something failed and will be retried (token provider, refresh, rejoin) */
  error: (err: SwitchboardError) => void
  /** the client gave up (unauthorized, forbidden, an expired fixed token, disconnected by the server) */
  stopped: (err: SwitchboardError) => void
}
