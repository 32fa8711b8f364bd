/**
 * IPC messages between the runner (parent) and the load workers. Kept in one place so both
 * ends are type-checked against the same shapes.
 */

/** One client a worker should open: which server (index into urls), who, and which rooms. */
export interface ClientSpec {
  url: number
  sub: string
  rooms: string[]
}

/** A client that publishes during a run, by its index in the worker's client list. */
export interface PublisherSpec {
  client: number
  roomId: string
  /** messages per second from this client */
  rate: number
}

export interface ConnectCmd {
  type: 'connect'
  reqId: number
  urls: string[]
  secret: string
  clients: ClientSpec[]
  /** handshakes in flight at once per worker */
  concurrency: number
  timeoutMs: number
}

export interface RunCmd {
  type: 'run'
  reqId: number
  runId: string
  /** wall-clock ms (performance.timeOrigin + performance.now()) at which sending starts */
  startAt: number
  durationMs: number
  /** most time to wait for late deliveries after the send window */
  drainMs: number
  publishers: PublisherSpec[]
  /** total length of the message text */
  textBytes: number
}

export interface DisconnectCmd {
  type: 'disconnect'
  reqId: number
}

export type WorkerCmd = ConnectCmd | RunCmd | DisconnectCmd

export interface ConnectedMsg {
  type: 'connected'
  reqId: number
  ok: number
  failed: number
  errors: string[]
  /** failures by reason (the connect_error message, or the join's error code) */
  errorCounts: Record<string, number>
  ms: number
}

export interface RunResultMsg {
  type: 'result'
  reqId: number
  sent: number
  acked: number
  ackErrors: number
  ackErrorCodes: Record<string, number>
  /** message:new of this run received by this worker's clients, drain included */
  received: number
  /** ... of which received before the end of the send window */
  receivedInWindow: number
  /** message:new events from an earlier run (arrived late) */
  stale: number
  disconnects: number
  disconnectReasons: Record<string, number>
  /** send → receive latency in µs, hdr-histogram-js compressed base64 */
  latency: string
  /** send → ack latency in µs, same encoding */
  ackLatency: string
  /** wall ms at which this worker's last send happened */
  lastSendAt: number
  /** wall ms of this worker's last delivery of this run (0: none) */
  lastRecvAt: number
}

export interface DisconnectedMsg {
  type: 'disconnected'
  reqId: number
  closed: number
}

export interface ErrorMsg {
  type: 'error'
  reqId: number
  message: string
}

export type WorkerMsg = ConnectedMsg | RunResultMsg | DisconnectedMsg | ErrorMsg

/** Wall-clock ms with sub-ms precision, comparable across processes on one machine. */
export function wallNow (): number {
  return performance.timeOrigin + performance.now()
}

/** Histogram settings shared by workers and parent (µs, 1 µs … 120 s, 3 digits). */
export const HIST_OPTS = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: 120_000_000,
  numberOfSignificantValueDigits: 3 as const
}
