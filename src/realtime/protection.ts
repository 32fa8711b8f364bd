/**
 * Transport-level protection (SPEC §7), on the engine.io connections of an instance. No timers.
 *
 * - MAX_FRAME_BYTES is engine.io's `maxHttpBufferSize`. Over WebSocket, `ws` refuses a larger
 *   frame (close code 1009, "Max payload size exceeded") and engine.io closes that connection
 *   with reason 'transport error'. Over HTTP long-polling engine.io answers the POST with 413
 *   but keeps the session open until its ping times out; here that session is closed at once,
 *   so the rule is the same on both transports. Both are reported (`onOversizedFrame`).
 *
 * - MAX_SOCKET_BUFFER_BYTES bounds what an instance holds for a client that stops reading.
 *   When the kernel's socket buffers are full, `ws` stops completing writes, engine.io marks
 *   the transport unwritable and every further packet waits in the connection's `writeBuffer`;
 *   what `ws` already accepted waits in its `bufferedAmount`. Checked on write: each packet
 *   adds its size to an estimate per connection, which only grows; when the estimate passes
 *   the limit the exact amount (writeBuffer + bufferedAmount) is measured, and either the
 *   connection is over the limit and is closed, or the estimate restarts from the exact amount.
 *   A healthy connection's buffer is empty, so the exact measure is O(1) and happens once per
 *   MAX_SOCKET_BUFFER_BYTES sent: the check costs an addition per packet. A stuck connection is
 *   closed within one packet of passing the limit, and its buffers are dropped.
 *
 * The check is the connection's only `packetCreate` listener: it also tells `onPing` of every
 * ping engine.io writes (the start of the SPEC §6 RTT, src/metrics/socket.ts), so a packet costs
 * one listener call (with two listeners Node's emitter copies the listener array per packet).
 * The estimate and the closing mark are fields on the connection, not WeakMap entries: a packet
 * costs no hash lookup either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

interface EnginePacket { type?: string, data?: unknown }

/** bytes sent on the connection since its last exact measure (an over-estimate) */
const ESTIMATE = Symbol('switchboard.bufferEstimate')
/** set once the connection is being closed as a slow consumer */
const CLOSING = Symbol('switchboard.closing')
interface Tracked { [ESTIMATE]?: number, [CLOSING]?: boolean }

/** The parts of an engine.io Socket used here (engine.io's own types are not exported by socket.io). */
export interface EngineConn {
  id: string
  readyState: string
  writeBuffer: EnginePacket[]
  transport: { name: string, socket?: { bufferedAmount?: unknown, terminate?: () => void } }
  close: (discard?: boolean) => void
  on: (event: string, listener: (...args: any[]) => void) => unknown
}

export interface Engine {
  clients: Record<string, EngineConn>
  on: (event: 'connection', listener: (conn: EngineConn) => void) => unknown
  use: (middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void) => unknown
}

export interface TransportProtectionOptions {
  /** MAX_SOCKET_BUFFER_BYTES */
  maxBufferBytes: number
  onOversizedFrame?: (conn: { id: string, transport: string }) => void
  onSlowConsumer?: (conn: { id: string, transport: string }, bufferedBytes: number) => void
  /** a ping packet is being written on the connection (called from the packetCreate listener, before the write) */
  onPing?: (conn: EngineConn) => void
}

function sizeOf (data: unknown): number {
  if (typeof data === 'string') return data.length
  if (data instanceof ArrayBuffer) return data.byteLength
  if (ArrayBuffer.isView(data)) return data.byteLength
  return 0
}

/** Bytes this instance holds for the connection: packets not yet handed to the transport, and what `ws` holds. */
export function bufferedBytes (conn: EngineConn): number {
  let n = 0
  for (const p of conn.writeBuffer) n += sizeOf(p.data)
  const amount = conn.transport.socket?.bufferedAmount
  if (typeof amount === 'number') n += amount
  return n
}

const OVERSIZED_WS = /Max payload size exceeded/

export function protectTransports (engine: Engine, opts: TransportProtectionOptions): void {
  const max = opts.maxBufferBytes
  const onPing = opts.onPing

  function close (conn: EngineConn): void {
    const ws = conn.transport.socket
    // discard: do not wait for a drain that will never come
    conn.close(true)
    // engine.io's close of a WebSocket is a close handshake that waits (up to 30 s) behind the
    // stuck data; terminate frees the socket and its buffers now
    ws?.terminate?.()
  }

  // shared listeners (engine.io calls them with `this` = the connection): no closure per connection
  function onPacketCreate (this: EngineConn & Tracked, packet: EnginePacket): void {
    if (packet.type === 'ping' && onPing !== undefined) onPing(this)
    if (this[CLOSING] === true) return
    const n = (this[ESTIMATE] ?? 0) + sizeOf(packet.data)
    if (n <= max) {
      this[ESTIMATE] = n
      return
    }
    // the packet is not in writeBuffer yet: it is pushed after this event
    const exact = bufferedBytes(this) + sizeOf(packet.data)
    if (exact <= max) {
      this[ESTIMATE] = exact
      return
    }
    this[ESTIMATE] = 0
    this[CLOSING] = true
    opts.onSlowConsumer?.({ id: this.id, transport: this.transport.name }, exact)
    // not from inside the emit that is writing (it may be a broadcast iterating over a room)
    const conn = this
    process.nextTick(() => close(conn))
  }

  function onClose (this: EngineConn, reason: string, description?: unknown): void {
    if (reason === 'transport error' && OVERSIZED_WS.test(String((description as { message?: unknown } | undefined)?.message ?? ''))) {
      opts.onOversizedFrame?.({ id: this.id, transport: this.transport.name })
    }
  }

  engine.on('connection', (conn: EngineConn & Tracked) => {
    // both fields from the start: every connection keeps one shape
    conn[ESTIMATE] = 0
    conn[CLOSING] = false
    conn.on('packetCreate', onPacketCreate)
    conn.on('close', onClose)
  })

  // polling: a POST over maxHttpBufferSize is answered 413; close its session too
  engine.use((req, res, next) => {
    if (req.method === 'POST') {
      res.once('finish', () => {
        if (res.statusCode !== 413) return
        const sid = new URL(req.url ?? '/', 'http://x').searchParams.get('sid')
        const conn = sid !== null && Object.hasOwn(engine.clients, sid) ? engine.clients[sid] : undefined
        opts.onOversizedFrame?.({ id: sid ?? '', transport: 'polling' })
        conn?.close(true)
      })
    }
    next()
  })
}
