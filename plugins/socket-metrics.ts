/**
 * The socket-side instruments of SPEC §6 that no handler sees: handshakes that succeeded,
 * disconnect reasons, unknown events, Engine.IO's ping → pong round trip, and the cluster-wide
 * online-users count. Every listener here is one function shared by all connections (Node calls
 * it with `this` = the emitter), and every label slot is looked up once, here: a connection
 * costs no closure and no metric object, a message no label object.
 *
 * Connects and disconnects are logged at `debug`, with the disconnect reason (SPEC §2 LOG_LEVEL).
 *
 * RTT: Engine.IO (protocol 4) sends `ping` every pingInterval and the client answers `pong`
 * on its own: the server socket emits `packetCreate` for the ping it writes and `heartbeat`
 * when the pong arrives, so ping → pong is timed on this instance's clock alone, without
 * client cooperation (no `ping:rtt` event, no clock skew).
 */
import fp from 'fastify-plugin'
import { ADMIN_EVENTS } from '../src/realtime/namespaces/admin.js'
import { DISCONNECT_REASONS, eventInstrument } from '../src/metrics/families.js'
import { listen } from '../src/realtime/handle.js'
import type { AppSocket } from '../src/realtime/types.js'

/** when the last ping was written on an Engine.IO socket (performance.now() ms), 0 when none is outstanding */
const PING_AT = Symbol('switchboard.pingAt')
interface EioSocket { [PING_AT]?: number, on: (event: string, listener: (...args: any[]) => void) => void }

export default fp(async (fastify) => {
  const io = fastify.io
  const rt = fastify.realtime
  const f = fastify.appMetrics.socket
  const log = fastify.log.child({ component: 'realtime' })

  const rttSlot = f.rtt.slot()
  function onPacketCreate (this: EioSocket, packet: { type: string }): void {
    if (packet.type === 'ping') this[PING_AT] = performance.now()
  }
  function onHeartbeat (this: EioSocket): void {
    const at = this[PING_AT]
    if (at !== undefined && at > 0) {
      f.rtt.observe(rttSlot, (performance.now() - at) / 1000)
      this[PING_AT] = 0
    }
  }
  io.engine.on('connection', (conn: EioSocket) => {
    conn.on('packetCreate', onPacketCreate)
    conn.on('heartbeat', onHeartbeat)
  })

  const handshakeOk = f.handshakes.slot({ result: 'ok' })
  const reasons = new Map<string, number>(DISCONNECT_REASONS.map(reason => [reason, f.disconnects.slot({ reason })]))
  function onDisconnect (this: AppSocket, reason: string): void {
    f.disconnects.inc(reasons.get(reason) ?? -1)
    log.debug({ sid: this.id, nsp: this.nsp.name, reason }, 'socket disconnected')
  }
  for (const ns of [rt.nsp, rt.admin]) {
    ns.on('connection', (socket) => {
      f.handshakes.inc(handshakeOk)
      log.debug({ sid: socket.id, nsp: ns.name, sub: socket.data.principal?.sub, ip: socket.data.ip, transport: socket.conn.transport.name, recovered: socket.recovered }, 'socket connected')
      listen(socket, 'disconnect', onDisconnect)
    })
  }

  // unknown events (answered not_found by the namespaces) count once, as event="unknown"
  const unknown = eventInstrument(f, 'unknown')
  function onAnyDefault (this: AppSocket, event: string): void {
    if (!rt.knownEvents.has(event)) unknown.done('not_found', performance.now())
  }
  function onAnyAdmin (this: AppSocket, event: string): void {
    if (!ADMIN_EVENTS.has(event)) unknown.done('not_found', performance.now())
  }
  rt.extensions.push((socket) => { socket.onAny(onAnyDefault) })
  rt.adminExtensions.push((socket) => { socket.onAny(onAnyAdmin) })

  // users online across all instances: one ZCOUNT of the online-users ZSET (scored by expiry)
  const redis = fastify.redis
  const presence = fastify.presence.store
  const onlineKey = fastify.stores.keys.presence.onlineUsers
  fastify.appMetrics.sources.onlineUsers = redis === null
    ? async () => (await presence.stats()).onlineUsers
    : async () => await redis.client.zcount(onlineKey, Date.now(), '+inf')
}, { name: 'socket-metrics', dependencies: ['metrics', 'redis', 'stores', 'socket-io', 'realtime', 'presence'], fastify: '5.x' })
