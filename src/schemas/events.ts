/**
 * The socket API as data (SPEC §4–§5): for each namespace, every client → server event with its
 * payload and its `ok` answer, and every server → client event with its payload. One source for
 * the typed client (`src/client/`, types only) and the AsyncAPI document (`src/asyncapi.ts`);
 * the payload schemas are the ones the handlers validate with.
 */
import { Type, type Static, type TSchema } from './type.js'
import { Message, MessageId, PresenceState, RoomId, UserId } from './common.js'
import * as S from './socket.js'

/** Every error code of the contract (SPEC §4). */
export const ERROR_CODES = [
  'unauthorized', 'token_expired', 'forbidden', 'invalid_payload', 'not_found',
  'not_in_room', 'payload_too_large', 'rate_limited', 'unavailable', 'internal'
] as const
export const ErrorCode = Type.Enum(ERROR_CODES)
export type ErrorCode = typeof ERROR_CODES[number]

export const ErrorInfo = Type.Object({
  code: ErrorCode,
  message: Type.String(),
  retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, description: 'set with rate_limited' })),
  details: Type.Optional(Type.Array(Type.Object({ path: Type.String({ description: 'JSON pointer into the payload' }), message: Type.String() })))
})
export type ErrorInfo = Static<typeof ErrorInfo>

/** `{ ok: false, error }`: the refusal answer of every event. */
export const AckError = Type.Object({ ok: Type.Literal(false), error: ErrorInfo })

function ok<P extends Record<string, TSchema>> (props: P) {
  return Type.Object({ ok: Type.Literal(true), ...props })
}

export const RoomJoinOk = ok({
  roomId: RoomId,
  missed: Type.Optional(Type.Array(Message, { description: 'with since: messages after it, oldest first, at most 200' })),
  hasMore: Type.Optional(Type.Boolean()),
  recovered: Type.Optional(Type.Boolean({ description: 'false when messages after since may be lost' }))
})
export const EmptyOk = ok({})
export const MessageSendOk = ok({ message: Message })
export const HistoryFetchOk = ok({ messages: Type.Array(Message), hasMore: Type.Boolean() })
export const PresenceSubscribeOk = ok({ users: Type.Array(PresenceState) })
export const AuthRefreshOk = ok({ expiresAt: Type.Integer({ description: 'epoch ms' }) })
export const StatsGetOk = ok({
  instances: Type.Array(Type.Object({
    id: Type.String(),
    connections: Type.Integer(),
    rooms: Type.Integer(),
    uptimeS: Type.Number(),
    rssBytes: Type.Integer()
  })),
  totals: Type.Object({ connections: Type.Integer(), onlineUsers: Type.Integer() })
})
export const UserDisconnectOk = ok({ disconnected: Type.Integer({ minimum: 0 }) })

interface ClientEvent { payload: TSchema, ack: TSchema, description: string }

/** Client → server events of namespace `/`: payload and `ok` answer (refusal: AckError). */
export const MainClientEvents = {
  'room:join': { payload: S.RoomJoin, ack: RoomJoinOk, description: 'join a room; with since, also the messages after it' },
  'room:leave': { payload: S.RoomLeave, ack: EmptyOk, description: 'leave a room' },
  'message:send': { payload: S.MessageSend, ack: MessageSendOk, description: 'send a message to a joined room; a repeat of clientMsgId returns the first message' },
  'history:fetch': { payload: S.HistoryFetch, ack: HistoryFetchOk, description: 'page through a room\'s history, oldest first' },
  typing: { payload: S.Typing, ack: EmptyOk, description: 'tell the room this user is (not) typing' },
  'receipt:read': { payload: S.ReceiptRead, ack: EmptyOk, description: 'mark a room read up to a message' },
  'presence:subscribe': { payload: S.PresenceSubscribe, ack: PresenceSubscribeOk, description: 'follow users\' presence' },
  'presence:unsubscribe': { payload: S.PresenceUnsubscribe, ack: EmptyOk, description: 'stop following users' },
  'auth:refresh': { payload: S.AuthRefresh, ack: AuthRefreshOk, description: 'replace the connection\'s token by one for the same sub' }
} as const satisfies Record<string, ClientEvent>

/** Client → server events of namespace `/admin` (role admin). */
export const AdminClientEvents = {
  'stats:get': { payload: S.StatsGet, ack: StatsGetOk, description: 'connections and online users across all instances' },
  'user:disconnect': { payload: S.UserDisconnect, ack: UserDisconnectOk, description: 'disconnect every socket of a user on every instance' }
} as const satisfies Record<string, ClientEvent>

export const TypingEvent = Type.Object({ roomId: RoomId, userId: UserId, isTyping: Type.Boolean() })
export const ReceiptEvent = Type.Object({ roomId: RoomId, userId: UserId, messageId: MessageId })
export const RoomPresenceEvent = Type.Object({ roomId: RoomId, userId: UserId, status: Type.Union([Type.Literal('joined'), Type.Literal('left')]) })
export const NotificationEvent = Type.Object({ type: Type.String(), data: Type.Unknown(), at: Type.Integer({ description: 'epoch ms' }) })
export const AuthExpiringEvent = Type.Object({ expiresAt: Type.Integer({ description: 'epoch ms' }) })
export const RateLimitedEvent = Type.Object({
  event: Type.String(),
  retryAfterMs: Type.Integer({ minimum: 0 }),
  reason: Type.Optional(Type.Literal('rate_limited', { description: 'set on the last one before a disconnect for being far over a limit' }))
})
export const ServerShutdownEvent = Type.Object({ reconnectInMs: Type.Integer({ minimum: 0 }) })

interface ServerEvent { payload: TSchema, description: string }

/** Server → client events of namespace `/`. */
export const MainServerEvents = {
  'message:new': { payload: Message, description: 'a message was accepted in a joined room (the sender\'s sockets get it too)' },
  typing: { payload: TypingEvent, description: 'another member typed (volatile)' },
  receipt: { payload: ReceiptEvent, description: 'a member read up to a message' },
  'room:presence': { payload: RoomPresenceEvent, description: 'a user\'s first socket joined / last socket left the room' },
  presence: { payload: PresenceState, description: 'a followed user went online or offline' },
  notification: { payload: NotificationEvent, description: 'an internal service pushed to this user' },
  'auth:expiring': { payload: AuthExpiringEvent, description: '60 s before the token\'s exp; refresh with auth:refresh or be disconnected at exp' },
  'rate:limited': { payload: RateLimitedEvent, description: 'an event was refused for rate' },
  'server:shutdown': { payload: ServerShutdownEvent, description: 'this instance is draining; the transport closes after reconnectInMs and the client reconnects' }
} as const satisfies Record<string, ServerEvent>

/** `/admin` sends nothing of its own. */
export const AdminServerEvents = {} as const satisfies Record<string, ServerEvent>

/** The handshake's `auth` object (SPEC §3). */
export const HandshakeAuth = Type.Object({ token: Type.String({ description: 'JWT (or an Authorization: Bearer header)' }) })

/** The codes a handshake can be refused with. */
export const CONNECT_ERROR_CODES = ['unauthorized', 'token_expired', 'forbidden', 'rate_limited', 'unavailable'] as const

/** `connect_error`: `message` is the code, `data` this object (SPEC §4). */
export const ConnectErrorData = Type.Object({
  code: Type.Enum(CONNECT_ERROR_CODES),
  message: Type.String(),
  retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, description: 'set with rate_limited' }))
})
