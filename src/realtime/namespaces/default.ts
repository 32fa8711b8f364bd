/**
 * Namespace `/` (SPEC §5): rooms, messages, typing, history and token refresh for every
 * authenticated principal. A handler factory: it receives its dependencies and owns no state
 * beyond what Socket.IO keeps per socket.
 */
import { appError } from '../../errors.js'
import type { Authenticate } from '../../domain/principal.js'
import type { MessageService } from '../../domain/messages.js'
import { isReservedRoom, matchesRoomPattern, userRoom } from '../../domain/rooms.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import type { ExpiryScheduler } from '../expiry.js'
import type { Handle } from '../handle.js'
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
  handle: Handle
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
  const { handle, messages, authenticate, expiry, maxRoomsPerSocket, hooks } = deps
  for (const e of ['room:join', 'room:leave', 'message:send', 'history:fetch', 'typing', 'auth:refresh']) deps.knownEvents.add(e)

  nsp.on('connection', (socket) => {
    const principal = socket.data.principal
    // every socket hears its own user's notifications; this room never counts toward the limit
    socket.join(userRoom(principal.sub))
    expiry.track(socket, principal.exp)
    socket.on('disconnect', () => expiry.untrack(socket))

    socket.onAny((event: string, ...args: unknown[]) => {
      if (deps.knownEvents.has(event)) return
      const ack = args[args.length - 1]
      if (typeof ack === 'function') ack({ ok: false, error: { code: 'not_found', message: `unknown event ${event.slice(0, 64)}` } })
    })

    handle(socket, 'room:join', check.join, async ({ roomId, since }) => {
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
    })

    handle(socket, 'room:leave', check.leave, async ({ roomId }) => {
      if (isReservedRoom(roomId)) throw appError('forbidden', `room ${roomId} is reserved`)
      if (socket.rooms.has(roomId)) {
        await socket.leave(roomId)
        await hooks?.left?.(socket, roomId)
      }
      return undefined
    })

    handle(socket, 'message:send', check.send, async (payload) => {
      if (!socket.rooms.has(payload.roomId) || isReservedRoom(payload.roomId)) {
        throw appError('not_in_room', `join ${payload.roomId} before sending to it`)
      }
      const { message } = await messages.send(socket.data.principal, payload)
      return { message }
    })

    handle(socket, 'history:fetch', check.history, async (q) => {
      const r = await messages.history(socket.data.principal, q)
      return { messages: r.messages, hasMore: r.hasMore }
    })

    handle(socket, 'typing', check.typing, ({ roomId, isTyping }) => {
      if (!socket.rooms.has(roomId) || isReservedRoom(roomId)) {
        throw appError('not_in_room', `join ${roomId} before typing in it`)
      }
      socket.to(roomId).volatile.emit('typing', { roomId, userId: socket.data.principal.sub, isTyping })
      return undefined
    })

    handle(socket, 'auth:refresh', check.refresh, async ({ token }) => {
      const next = authenticate(token)
      const current = socket.data.principal
      if (next.sub !== current.sub) throw appError('forbidden', 'a refreshed token must be for the same sub')
      socket.data.principal = next
      expiry.track(socket, next.exp)
      // a narrower token takes effect at once: leave the rooms it no longer allows
      if (next.rooms !== undefined) {
        for (const room of [...socket.rooms]) {
          if (room === socket.id || isReservedRoom(room)) continue
          if (!matchesRoomPattern(next.rooms, room)) {
            await socket.leave(room)
            await hooks?.left?.(socket, room)
          }
        }
      }
      return { expiresAt: next.exp }
    })

    for (const ext of deps.extensions ?? []) ext(socket)
  })
}
