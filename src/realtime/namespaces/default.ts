/**
 * Namespace `/` (SPEC §5): rooms, messages, typing, history and token refresh for every
 * authenticated principal. A handler factory: it receives its dependencies and owns no state
 * beyond what Socket.IO keeps per socket.
 */
import { appError } from '../../errors.js'
import type { Authenticate } from '../../domain/principal.js'
import type { MessageService } from '../../domain/messages.js'
import { isReservedRoom, userRoom } from '../../domain/rooms.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import type { ExpiryScheduler } from '../expiry.js'
import { listen, type Define, type SharedListener } from '../handle.js'
import { assertMember, disallowedRooms } from '../membership.js'
import type { AppNamespace, AppSocket } from '../types.js'

const check = {
  join: compileValidator(S.RoomJoin),
  leave: compileValidator(S.RoomLeave),
  send: compileValidator(S.MessageSend),
  history: compileValidator(S.HistoryFetch),
  typing: compileValidator(S.Typing),
  refresh: compileValidator(S.AuthRefresh)
}

/** Hooks other features (presence, receipts) use to follow room membership. */
export interface RoomHooks {
  joined?: (socket: AppSocket, roomId: string) => Promise<void> | void
  left?: (socket: AppSocket, roomId: string) => Promise<void> | void
}

export interface DefaultNamespaceDeps {
  define: Define
  messages: MessageService
  authenticate: Authenticate
  expiry: ExpiryScheduler
  maxRoomsPerSocket: number
  /** the events this namespace answers, so unknown ones can be told apart */
  knownEvents: Set<string>
  hooks?: RoomHooks
  /** extra per-socket registrations (presence, receipts…), called for every new socket */
  extensions?: Array<(socket: AppSocket) => void>
}

/** Rooms a socket has joined on its own: not its id room, not its `user:` room. */
export function joinedRooms (socket: AppSocket): number {
  let n = 0
  for (const r of socket.rooms) if (r !== socket.id && !isReservedRoom(r)) n++
  return n
}

export function registerDefaultNamespace (nsp: AppNamespace, deps: DefaultNamespaceDeps): void {
  const { define, messages, authenticate, expiry, maxRoomsPerSocket, hooks } = deps
  const assertAccess = messages.assertAccess

  // Every listener is defined once and shared by all sockets (Socket.IO calls it with
  // `this` = the socket): a connection costs no closures, only its listener entries.
  const listeners: Array<[string, SharedListener]> = [
    ['room:join', define('room:join', check.join, async (socket, { roomId, since }) => {
      const p = socket.data.principal
      messages.assertAccess(p, roomId)
      if (!socket.rooms.has(roomId)) {
        if (joinedRooms(socket) >= maxRoomsPerSocket) {
          throw appError('forbidden', `a socket may join at most ${maxRoomsPerSocket} rooms`)
        }
        // join before reading history: a message sent meanwhile arrives twice (deduplicate by
        // id) rather than never
        await socket.join(roomId)
        await hooks?.joined?.(socket, roomId)
      }
      if (since === undefined) return { roomId }
      const r = await messages.catchUp(p, roomId, since)
      return { roomId, missed: r.missed, hasMore: r.hasMore, recovered: r.recovered }
    })],

    ['room:leave', define('room:leave', check.leave, async (socket, { roomId }) => {
      if (isReservedRoom(roomId)) throw appError('forbidden', `room ${roomId} is reserved`)
      if (socket.rooms.has(roomId)) {
        await socket.leave(roomId)
        await hooks?.left?.(socket, roomId)
      }
      return undefined
    })],

    ['message:send', define('message:send', check.send, async (socket, payload) => {
      assertMember(socket, payload.roomId, assertAccess, 'sending to it')
      const { message } = await messages.send(socket.data.principal, payload, 'socket')
      return { message }
    })],

    ['history:fetch', define('history:fetch', check.history, async (socket, q) => {
      const r = await messages.history(socket.data.principal, q)
      return { messages: r.messages, hasMore: r.hasMore }
    })],

    ['typing', define('typing', check.typing, (socket, { roomId, isTyping }) => {
      assertMember(socket, roomId, assertAccess, 'typing in it')
      socket.to(roomId).volatile.emit('typing', { roomId, userId: socket.data.principal.sub, isTyping })
      return undefined
    })],

    ['auth:refresh', define('auth:refresh', check.refresh, async (socket, { token }) => {
      const next = await authenticate(token)
      const current = socket.data.principal
      if (next.sub !== current.sub) throw appError('forbidden', 'a refreshed token must be for the same sub')
      socket.data.principal = next
      expiry.track(socket, next.exp)
      // a narrower token (rooms claim, role, ROOM_ACCESS) takes effect at once: the full room
      // rule is applied again to every joined room, and those no longer allowed are left
      for (const room of disallowedRooms(socket, assertAccess)) {
        await socket.leave(room)
        await hooks?.left?.(socket, room)
      }
      return { expiresAt: next.exp }
    })]
  ]
  for (const [e] of listeners) deps.knownEvents.add(e)

  function onDisconnect (this: AppSocket): void {
    expiry.untrack(this)
  }

  function onUnknown (this: AppSocket, event: string, ...args: unknown[]): void {
    if (deps.knownEvents.has(event)) return
    const ack = args[args.length - 1]
    if (typeof ack === 'function') ack({ ok: false, error: { code: 'not_found', message: `unknown event ${event.slice(0, 64)}` } })
  }

  nsp.on('connection', (socket) => {
    const principal = socket.data.principal
    // a recovered session's rooms were joined under its previous token: the new one decides
    // (before the presence extension registers the recovered rooms)
    if (socket.recovered) for (const room of disallowedRooms(socket, assertAccess)) socket.leave(room)
    // every socket hears its own user's notifications; this room never counts toward the limit
    socket.join(userRoom(principal.sub))
    expiry.track(socket, principal.exp)
    listen(socket, 'disconnect', onDisconnect)
    socket.onAny(onUnknown)
    for (const [e, l] of listeners) listen(socket, e, l)
    for (const ext of deps.extensions ?? []) ext(socket)
  })
}
