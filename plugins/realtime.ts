/**
 * The Socket.IO side of the app, wired in one place and in order:
 *
 * 1. handshake steps of both namespaces (`nsp.use`, in this order): the drain gate, the client
 *    address (TRUST_PROXY), the per-IP connection limit's verdict, then the JWT authentication
 *    (`/admin`: admin role only). Each refusal is logged once and counted by code.
 * 2. sessions restored by connection state recovery only for the same principal (sessions.ts).
 * 3. the one `connection` handler per namespace (src/realtime/connection.ts), which attaches every
 *    feature's event handlers through the one handler wrapper (src/realtime/wrap.ts).
 * 4. the graceful drain (SPEC §8), a preClose hook: sockets closed in batches, then presence
 *    removes this instance's entries, then Socket.IO closes (while Redis is still open).
 */
import fp from 'fastify-plugin'
import { createHandshakeAuth } from '../src/realtime/auth.js'
import { createWrap } from '../src/realtime/wrap.js'
import { isAppError } from '../src/errors.js'
import { ExpiryScheduler } from '../src/realtime/expiry.js'
import { registerConnectionHandlers } from '../src/realtime/connection.js'
import { drainSockets } from '../src/realtime/drain.js'
import { guardSessions } from '../src/realtime/sessions.js'
import { closeWhileDraining } from '../src/realtime/admission.js'
import type { AppNamespace, AppSocket } from '../src/realtime/types.js'
import { eventInstrument } from '../src/metrics/families.js'
import { createSocketInstruments } from '../src/metrics/socket.js'

type Middleware = (socket: AppSocket, next: (err?: Error) => void) => void

declare module 'fastify' {
  interface FastifyInstance {
    /** the events namespace `/` answers (read-only; the AsyncAPI document lists exactly these) */
    socketEvents: ReadonlySet<string>
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  const io = fastify.io
  const log = fastify.log.child({ component: 'realtime' })
  const { limits, presence } = fastify
  const metrics = fastify.appMetrics
  const isDraining = (): boolean => fastify.lifecycle.draining
  const nsp = io.of('/') as AppNamespace
  const admin = io.of('/admin') as AppNamespace
  const instruments = createSocketInstruments(metrics.socket, log)
  io.engine.on('connection', instruments.engineConnection)

  // 1. handshake steps, in order. One log line per refusal: its code and the client address,
  // never the token; counted by code in switchboard_handshakes_total
  const logged = (mw: Middleware): Middleware => (socket, next) => {
    mw(socket, (err?: Error) => {
      if (err !== undefined) {
        log.info({ code: err.message, ip: socket.data.ip, nsp: socket.nsp.name }, 'handshake refused')
        instruments.refused(err.message)
      }
      next(err)
    })
  }
  const setAddress: Middleware = (socket, next) => {
    socket.data.ip = fastify.clientAddress(socket.handshake.address, socket.handshake.headers['x-forwarded-for'])
    next()
  }
  const steps = (auth: Middleware): Middleware[] => [
    // a CONNECT after the drain began closes the transport (the client retries elsewhere)
    closeWhileDraining(isDraining),
    // before the per-IP limit and the logs need it
    setAddress,
    logged(limits.connectionRefusal),
    logged(auth)
  ]
  for (const mw of steps(createHandshakeAuth({ authenticate: fastify.authenticate }))) nsp.use(mw)
  for (const mw of steps(createHandshakeAuth({ authenticate: fastify.authenticate, roles: ['admin'] }))) admin.use(mw)

  // 2. a session is restored only for its own principal; socket ids are never room ids
  const { recoveries, catchups } = metrics.socket
  const recoverySlots = { true: recoveries.slot({ result: 'recovered' }), false: recoveries.slot({ result: 'not_recovered' }) }
  const onRecovery = (recovered: boolean): void => recoveries.inc(recovered ? recoverySlots.true : recoverySlots.false)
  const assertAccess = fastify.messages.service.assertAccess
  for (const ns of [nsp, admin]) guardSessions(ns, { authenticate: fastify.authenticate, recovery: io._opts.connectionStateRecovery !== undefined, onRecovery, assertAccess })

  // 3. the handlers. Every refusal for rate (a handler's, like message:send's per-user limit, or
  // the per-event limit's) is reported to the socket limits: `rate:limited`, far-over disconnect
  const wrap = createWrap(log, {
    onError: (socket, event, err) => {
      if (!isAppError(err) || err.code !== 'rate_limited') return
      if (event === 'message:send') metrics.rateLimited.inc({ kind: 'send' })
      limits.socket.refused(socket, event, err.retryAfterMs ?? 0)
    },
    instrument: (event) => eventInstrument(metrics.socket, event)
  })
  // on the authenticator's clock (plugins/jwt.ts): Redis' when Redis is configured
  const expiry = new ExpiryScheduler((socket) => {
    log.debug({ sid: socket.id }, 'token expired; disconnecting')
    socket.disconnect(true)
  }, fastify.redis?.now ?? Date.now)
  const caughtUp = { true: catchups.slot({ recovered: 'true' }), false: catchups.slot({ recovered: 'false' }) }
  const events = registerConnectionHandlers(nsp, admin, {
    wrap,
    log,
    authenticate: fastify.authenticate,
    messages: fastify.messages.service,
    presence,
    receipts: fastify.receipts.service,
    limits: limits.socket,
    expiry,
    instruments,
    maxRoomsPerSocket: c.MAX_ROOMS_PER_SOCKET,
    isDraining,
    onSent: metrics.messagesSent.socket,
    onCatchUp: (recovered) => { catchups.inc(recovered ? caughtUp.true : caughtUp.false) },
    roomLive: fastify.relay.roomLive
  })
  fastify.decorate('socketEvents', events as ReadonlySet<string>)

  if (c.ADAPTER === 'memory') {
    log.warn('NO REDIS_URL: running self-contained with the in-process adapter and stores. One instance only; history is lost on restart.')
  } else {
    log.info({ adapter: c.ADAPTER }, 'socket.io adapter on redis')
  }

  // 4. the drain, before Fastify closes the HTTP server and Redis
  fastify.addHook('preClose', async () => {
    fastify.lifecycle.draining = true
    log.info({ connections: io.engine.clientsCount, graceMs: c.SHUTDOWN_GRACE_MS }, 'draining: closing sockets in batches')
    const r = await drainSockets(io, c.SHUTDOWN_GRACE_MS)
    log.info(r, 'sockets drained')
    try {
      // the sockets are closed by now; whatever is left of this instance goes at once
      await presence.tracker.stop()
    } catch (err) {
      log.error({ err }, 'drain step failed')
    }
    expiry.close()
    // closes the adapters (awaited, while Redis is still open) and the engine
    await io.close()
  })
}, { name: 'realtime', dependencies: ['config', 'lifecycle', 'jwt', 'metrics', 'socket-io', 'limits', 'messages', 'presence', 'receipts'], fastify: '5.x' })
