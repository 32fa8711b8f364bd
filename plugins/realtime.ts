/**
 * Wires the Socket.IO namespaces: handshake authentication with the shared JWT verifier, the
 * `/` and `/admin` handlers, the relay from the message store to local sockets, token expiry,
 * and the graceful drain that runs before Fastify closes the HTTP server and Redis.
 */
import fp from 'fastify-plugin'
import { createHandshakeAuth } from '../src/realtime/auth.js'
import { createHandlers, type EventGuard, type Define } from '../src/realtime/handle.js'
import { isAppError } from '../src/errors.js'
import { ExpiryScheduler } from '../src/realtime/expiry.js'
import { registerDefaultNamespace, type DefaultNamespaceDeps } from '../src/realtime/namespaces/default.js'
import { startRelay } from '../src/realtime/relay.js'
import { drainSockets } from '../src/realtime/drain.js'
import { guardSessions } from '../src/realtime/sessions.js'
import { drainAdmission, closeWhileDraining, closeIfDraining } from '../src/realtime/admission.js'
import type { AppNamespace, AppSocket } from '../src/realtime/types.js'
import { eventInstrument } from '../src/metrics/families.js'

type Middleware = (socket: AppSocket, next: (err?: Error) => void) => void

export interface Realtime {
  /** the `/` namespace */
  nsp: AppNamespace
  /** the `/admin` namespace */
  admin: AppNamespace
  /** per-socket registrations added by feature plugins before the server starts */
  extensions: Array<(socket: AppSocket) => void>
  adminExtensions: Array<(socket: AppSocket) => void>
  knownEvents: Set<string>
  hooks: NonNullable<DefaultNamespaceDeps['hooks']>
  /** defines a listener shared by every socket (see src/realtime/handle.ts) */
  define: Define
  /** drain steps run after the sockets are closed and before Socket.IO and Redis close */
  onDrained: Array<() => Promise<void>>
  /** checks run before every handled event (rate limits); they throw a catalog error to refuse */
  guards: EventGuard[]
  /** Socket.IO middlewares run on both namespaces before the handshake authentication (per-IP connection limit) */
  preAuth: Array<(socket: AppSocket, next: (err?: Error) => void) => void>
  /** told of every event refused with `rate_limited`, by a guard or by its handler (the `rate:limited` event, far-over tracking) */
  onRateLimited: Array<(socket: AppSocket, event: string, retryAfterMs: number) => void>
}

declare module 'fastify' {
  interface FastifyInstance {
    realtime: Realtime
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  const io = fastify.io
  const log = fastify.log.child({ component: 'realtime' })
  const guards: EventGuard[] = []
  const onRateLimited: Realtime['onRateLimited'] = []
  const rateLimited = (socket: AppSocket, event: string, err: unknown): void => {
    if (isAppError(err) && err.code === 'rate_limited') {
      for (const h of onRateLimited) h(socket, event, err.retryAfterMs ?? 0)
    }
  }
  // every refusal, by a guard or by the handler itself (message:send), is reported to
  // onRateLimited when it is one for rate
  const define = createHandlers(log, {
    guard: (socket, event) => { for (const g of guards) g(socket, event) },
    onError: rateLimited,
    instrument: (event) => eventInstrument(fastify.appMetrics.socket, event)
  })
  const preAuth: Realtime['preAuth'] = []
  const runPreAuth = (socket: AppSocket, next: (err?: Error) => void): void => {
    let i = 0
    const step = (err?: Error): void => {
      if (err !== undefined || i === preAuth.length) return next(err)
      preAuth[i++](socket, step)
    }
    step()
  }
  const isDraining = () => fastify.lifecycle.draining

  // while draining: new sessions get HTTP 503, late CONNECTs a closed transport (see admission.ts)
  io.engine.use(drainAdmission(isDraining))
  const nsp = io.of('/') as AppNamespace
  const admin = io.of('/admin') as AppNamespace
  // a session is restored only for its own principal; socket ids are never room ids
  const { recoveries, handshakes } = fastify.appMetrics.socket
  const recoverySlots = { true: recoveries.slot({ result: 'recovered' }), false: recoveries.slot({ result: 'not_recovered' }) }
  const onRecovery = (recovered: boolean): void => recoveries.inc(recovered ? recoverySlots.true : recoverySlots.false)
  for (const ns of [nsp, admin]) guardSessions(ns, { authenticate: fastify.authenticate, recovery: io._opts.connectionStateRecovery !== undefined, onRecovery })
  // the client address (TRUST_PROXY), before the per-IP limit and the logs need it
  const setAddress = (socket: AppSocket, next: (err?: Error) => void): void => {
    socket.data.ip = fastify.clientAddress(socket.handshake.address, socket.handshake.headers['x-forwarded-for'])
    next()
  }
  for (const ns of [nsp, admin]) {
    ns.use(closeWhileDraining(isDraining))
    ns.use(setAddress)
  }
  // one log line per refused handshake: its code and the client address, never the token;
  // counted by code in switchboard_handshakes_total (an unlisted code counts as `internal`)
  const internalRefusal = handshakes.slot({ result: 'internal' })
  const logged = (mw: Middleware): Middleware => (socket, next) => {
    mw(socket, (err?: Error) => {
      if (err !== undefined) {
        log.info({ code: err.message, ip: socket.data.ip, nsp: socket.nsp.name }, 'handshake refused')
        const slot = handshakes.slot({ result: err.message })
        handshakes.inc(slot >= 0 ? slot : internalRefusal)
      }
      next(err)
    })
  }
  nsp.use(logged(runPreAuth))
  admin.use(logged(runPreAuth))
  nsp.use(logged(createHandshakeAuth({ authenticate: fastify.authenticate })))
  admin.use(logged(createHandshakeAuth({ authenticate: fastify.authenticate, roles: ['admin'] })))

  const expiry = new ExpiryScheduler((socket) => {
    log.debug({ sid: socket.id }, 'token expired; disconnecting')
    socket.disconnect(true)
  })

  const realtime: Realtime = {
    nsp,
    admin,
    extensions: [],
    adminExtensions: [],
    knownEvents: new Set(),
    hooks: {},
    define,
    onDrained: [],
    guards,
    preAuth,
    onRateLimited
  }
  fastify.decorate('realtime', realtime)

  // a recovered socket skips the handshake middleware: it must not outlive its token, nor
  // stay on an instance that is draining (its transport is closed, so it recovers elsewhere)
  for (const ns of [nsp, admin]) {
    ns.on('connection', (socket) => {
      if (closeIfDraining(socket, isDraining)) return
      if (socket.data.principal === undefined || socket.data.principal.exp <= Date.now()) {
        socket.disconnect(true)
      }
    })
  }

  registerDefaultNamespace(nsp, {
    define,
    messages: fastify.services.messages,
    authenticate: fastify.authenticate,
    expiry,
    maxRoomsPerSocket: c.MAX_ROOMS_PER_SOCKET,
    knownEvents: realtime.knownEvents,
    hooks: realtime.hooks,
    extensions: realtime.extensions
  })
  admin.on('connection', (socket) => {
    for (const ext of realtime.adminExtensions) ext(socket)
  })

  startRelay(fastify.stores.history, nsp, log)

  if (c.ADAPTER === 'memory') {
    log.warn('NO REDIS_URL: running self-contained with the in-process adapter and stores. One instance only; history is lost on restart.')
  } else {
    log.info({ adapter: c.ADAPTER }, 'socket.io adapter on redis')
  }

  fastify.addHook('preClose', async () => {
    fastify.lifecycle.draining = true
    log.info({ connections: io.engine.clientsCount, graceMs: c.SHUTDOWN_GRACE_MS }, 'draining: closing sockets in batches')
    const r = await drainSockets(io, c.SHUTDOWN_GRACE_MS)
    log.info(r, 'sockets drained')
    for (const step of realtime.onDrained) {
      try {
        await step()
      } catch (err) {
        log.error({ err }, 'drain step failed')
      }
    }
    expiry.close()
    // closes the adapters (awaited, while Redis is still open) and the engine
    await io.close()
  })
}, { name: 'realtime', dependencies: ['config', 'lifecycle', 'jwt', 'metrics', 'socket-io', 'stores', 'services'], fastify: '5.x' })
