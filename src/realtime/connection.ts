/**
 * Every event a client can send, in one place (SPEC §5): the one `connection` handler of each
 * namespace. Each feature's handlers come from its module in ./handlers (built once, shared by
 * all sockets: Socket.IO calls them with `this` = the socket); this file attaches them, the
 * per-event limit (`socket.use`), the answer to unknown events, and the per-socket bookkeeping,
 * in the order they must run. Handshake steps (`nsp.use`) are in plugins/realtime.ts.
 */
import type { Logger } from '../log.js'
import { appError, toAck } from '../errors.js'
import type { Authenticate } from '../domain/principal.js'
import type { MessageService } from '../domain/messages.js'
import type { PresenceService, PresenceTracker } from '../domain/presence.js'
import type { ReceiptService } from '../domain/receipts.js'
import { userRoom } from '../domain/rooms.js'
import type { SocketInstruments } from '../metrics/socket.js'
import { closeIfDraining } from './admission.js'
import type { ExpiryScheduler } from './expiry.js'
import type { SocketLimits } from './limits.js'
import { disallowedRooms } from './membership.js'
import type { AppNamespace, AppSocket } from './types.js'
import { listen, type SharedListener, type Wrap } from './wrap.js'
import { createAdminHandlers } from './handlers/admin.js'
import { createAuthHandlers } from './handlers/auth.js'
import { createMessageHandlers } from './handlers/messages.js'
import { createPresenceHandlers } from './handlers/presence.js'
import { createReceiptHandlers } from './handlers/receipts.js'
import { createRoomHandlers, type RoomMembership } from './handlers/rooms.js'

export interface ConnectionDeps {
  wrap: Wrap
  log: Logger
  authenticate: Authenticate
  messages: MessageService
  presence: { service: PresenceService, tracker: PresenceTracker, membership: RoomMembership }
  receipts: ReceiptService
  limits: SocketLimits
  expiry: ExpiryScheduler
  instruments: SocketInstruments
  maxRoomsPerSocket: number
  isDraining: () => boolean
  /** a message was accepted over a socket (SPEC §6 switchboard_messages_sent_total) */
  onSent: () => void
  /** a `room:join` with `since` was answered (SPEC §6 switchboard_catchups_total) */
  onCatchUp: (recovered: boolean) => void
  /** relay.ts Relay.roomLive; absent: every message reaches every instance */
  roomLive?: (roomId: string) => Promise<void>
}

/** The events of `/admin`. */
export const ADMIN_EVENTS = new Set(['stats:get', 'user:disconnect'])

/** Builds the handlers once; returns the events `/` answers. */
export function registerConnectionHandlers (nsp: AppNamespace, admin: AppNamespace, deps: ConnectionDeps): Set<string> {
  const { wrap, messages, presence, limits, expiry, instruments, isDraining } = deps
  const define = wrap.define
  const assertAccess = messages.assertAccess
  const membership = presence.membership

  const rooms = createRoomHandlers({ define, messages, membership, maxRoomsPerSocket: deps.maxRoomsPerSocket, onCatchUp: deps.onCatchUp, roomLive: deps.roomLive ?? (async () => {}) })
  const sends = createMessageHandlers({ define, messages, onSent: deps.onSent })
  const auth = createAuthHandlers({ define, authenticate: deps.authenticate, assertAccess, expiry, membership })
  const follow = createPresenceHandlers({ define, service: presence.service, tracker: presence.tracker })
  const receipts = createReceiptHandlers({ define, receipts: deps.receipts, assertAccess })
  const admins = createAdminHandlers({ define, service: presence.service, log: deps.log })

  /** namespace `/`: every event a client may send, and the function that answers it */
  const events: Record<string, SharedListener> = {
    'room:join': rooms.join,
    'room:leave': rooms.leave,
    'message:send': sends.send,
    'history:fetch': sends.history,
    typing: sends.typing,
    'auth:refresh': auth.refresh,
    'presence:subscribe': follow.subscribe,
    'presence:unsubscribe': follow.unsubscribe,
    'receipt:read': receipts.read
  }
  /** namespace `/admin` */
  const adminEvents: Record<string, SharedListener> = {
    'stats:get': admins.stats,
    'user:disconnect': admins.disconnectUser
  }
  const known = new Set(Object.keys(events))
  const isKnown = (event: string): boolean => known.has(event)
  const isAdminEvent = (event: string): boolean => ADMIN_EVENTS.has(event)

  // shared listeners: Socket.IO calls them with `this` = the socket
  function onDisconnect (this: AppSocket): void {
    expiry.untrack(this)
  }
  function unknownEvent (event: string, args: unknown[]): void {
    instruments.unknownEvent()
    const ack = args[args.length - 1]
    if (typeof ack === 'function') ack(toAck(appError('not_found', `unknown event ${event.slice(0, 64)}`)))
  }
  function onAny (this: AppSocket, event: string, ...args: unknown[]): void {
    if (!known.has(event)) unknownEvent(event, args)
  }
  function onAnyAdmin (this: AppSocket, event: string, ...args: unknown[]): void {
    if (!ADMIN_EVENTS.has(event)) unknownEvent(event, args)
  }

  // Every socket, recovered or not, went through the handshake middleware (skipMiddlewares is
  // off, sessions.ts); this is the last check before the handlers: no socket outlives its token
  // (it may have expired since the handshake), nor stays on an instance that began draining
  // meanwhile (its transport is closed, so it recovers elsewhere). What follows still runs for
  // it (as it did when these were separate handlers); presence skips it.
  function refuseStale (socket: AppSocket): void {
    if (closeIfDraining(socket, isDraining)) return
    if (socket.data.principal === undefined || socket.data.principal.exp <= expiry.now()) socket.disconnect(true)
  }

  nsp.on('connection', (socket) => {
    refuseStale(socket)
    // a recovered session's rooms were joined under its previous token: the new one decides
    // (before presence registers the recovered rooms)
    if (socket.recovered) for (const room of disallowedRooms(socket, assertAccess)) socket.leave(room)
    // every socket hears its own user's notifications; this room never counts toward the limit
    socket.join(userRoom(socket.data.principal.sub))
    expiry.track(socket, socket.data.principal.exp)
    listen(socket, 'disconnect', onDisconnect)
    socket.onAny(onAny)
    for (const event in events) listen(socket, event, events[event])
    limits.use(socket, { isKnown, countUnknown: true, refuse: wrap.refuse })
    follow.track(socket)
    instruments.connected(socket)
  })

  admin.on('connection', (socket) => {
    refuseStale(socket)
    socket.onAny(onAnyAdmin)
    for (const event in adminEvents) listen(socket, event, adminEvents[event])
    // unknown events on /admin do not count toward the limit
    limits.use(socket, { isKnown: isAdminEvent, countUnknown: false, refuse: wrap.refuse })
    instruments.connected(socket)
  })

  return known
}
