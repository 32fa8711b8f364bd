/**
 * The socket-side instruments of SPEC §6 that no handler sees: handshakes (accepted and refused,
 * by code), disconnect reasons, unknown events, and Engine.IO's ping → pong round trip. Every
 * listener here is one function shared by all connections (Node calls it with `this` = the
 * emitter), and every label slot is looked up once: a connection costs no closure and no metric
 * object, a message no label object. Connects and disconnects are logged at `debug`.
 *
 * RTT: Engine.IO (protocol 4) sends `ping` every pingInterval and the client answers `pong` on
 * its own: the server socket emits `packetCreate` for the ping it writes and `heartbeat` when the
 * pong arrives, so ping → pong is timed on this instance's clock alone (no client cooperation).
 * The ping is stamped by `pingWritten`, which the transport protection's `packetCreate` listener
 * calls (src/realtime/protection.ts `onPing`, wired in plugins/limits.ts): one listener per
 * connection sees every packet, instead of two.
 */
import type { Logger } from '../log.js'
import { DISCONNECT_REASONS, eventInstrument, type SocketFamilies } from './families.js'
import { listen } from '../realtime/wrap.js'
import type { AppSocket } from '../realtime/types.js'

/** when the last ping was written on an Engine.IO socket (performance.now() ms), 0 when none is outstanding */
const PING_AT = Symbol('switchboard.pingAt')
interface EioSocket { [PING_AT]?: number, on: (event: string, listener: (...args: any[]) => void) => void }

/**
 * A ping is being written on this Engine.IO socket: the start of its RTT (SPEC §6
 * switchboard_socket_rtt_seconds). Called for each ping by the one `packetCreate` listener of the
 * connection (src/realtime/protection.ts `onPing`); the pong's `heartbeat` ends it.
 */
export function pingWritten (conn: object): void {
  (conn as EioSocket)[PING_AT] = performance.now()
}

export interface SocketInstruments {
  /** engine.io `connection` listener: ends the ping → pong timing started by `pingWritten` */
  engineConnection: (conn: EioSocket) => void
  /** a namespace accepted a socket: counted, logged, its disconnect reason counted later */
  connected: (socket: AppSocket) => void
  /** a handshake was refused with this contract code (an unlisted code counts as `internal`) */
  refused: (code: string) => void
  /** an event no handler answers (answered `not_found`), counted once as event="unknown" */
  unknownEvent: () => void
}

export function createSocketInstruments (f: SocketFamilies, log: Logger): SocketInstruments {
  const rttSlot = f.rtt.slot()
  function onHeartbeat (this: EioSocket): void {
    const at = this[PING_AT]
    if (at !== undefined && at > 0) {
      f.rtt.observe(rttSlot, (performance.now() - at) / 1000)
      this[PING_AT] = 0
    }
  }

  const handshakeOk = f.handshakes.slot({ result: 'ok' })
  const internalRefusal = f.handshakes.slot({ result: 'internal' })
  const reasons = new Map<string, number>(DISCONNECT_REASONS.map(reason => [reason, f.disconnects.slot({ reason })]))
  function onDisconnect (this: AppSocket, reason: string): void {
    f.disconnects.inc(reasons.get(reason) ?? -1)
    log.debug({ sid: this.id, nsp: this.nsp.name, reason }, 'socket disconnected')
  }
  const unknown = eventInstrument(f, 'unknown')

  return {
    engineConnection (conn) {
      // the field from the start: every connection keeps one shape
      conn[PING_AT] = 0
      conn.on('heartbeat', onHeartbeat)
    },
    connected (socket) {
      f.handshakes.inc(handshakeOk)
      log.debug({ sid: socket.id, nsp: socket.nsp.name, sub: socket.data.principal?.sub, ip: socket.data.ip, transport: socket.conn.transport.name, recovered: socket.recovered }, 'socket connected')
      listen(socket, 'disconnect', onDisconnect)
    },
    refused (code) {
      const slot = f.handshakes.slot({ result: code })
      f.handshakes.inc(slot >= 0 ? slot : internalRefusal)
    },
    unknownEvent () {
      unknown.done('not_found', performance.now())
    }
  }
}
