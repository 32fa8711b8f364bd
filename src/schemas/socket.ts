/** Payload schemas of the client → server socket events (SPEC §5). */
import { Type, type Static } from './type.js'
import { ClientMsgId, Meta, MessageId, RoomId, Text, UserId } from './common.js'

const strict = { additionalProperties: false } as const

export const RoomJoin = Type.Object({ roomId: RoomId, since: Type.Optional(MessageId) }, strict)
export const RoomLeave = Type.Object({ roomId: RoomId }, strict)
export const MessageSend = Type.Object({
  roomId: RoomId,
  text: Text,
  clientMsgId: Type.Optional(ClientMsgId),
  meta: Type.Optional(Meta)
}, strict)
export const HistoryFetch = Type.Object({
  roomId: RoomId,
  before: Type.Optional(MessageId),
  after: Type.Optional(MessageId),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 }))
}, strict)
export const Typing = Type.Object({ roomId: RoomId, isTyping: Type.Boolean() }, strict)
export const ReceiptRead = Type.Object({ roomId: RoomId, messageId: MessageId }, strict)
export const PresenceSubscribe = Type.Object({ userIds: Type.Array(UserId, { minItems: 1, maxItems: 500 }) }, strict)
export const PresenceUnsubscribe = Type.Object({ userIds: Type.Array(UserId, { minItems: 1, maxItems: 500 }) }, strict)
export const AuthRefresh = Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) }, strict)
export const StatsGet = Type.Object({}, strict)
export const UserDisconnect = Type.Object({ userId: UserId, reason: Type.Optional(Type.String({ maxLength: 256 })) }, strict)

export type RoomJoin = Static<typeof RoomJoin>
export type RoomLeave = Static<typeof RoomLeave>
export type MessageSend = Static<typeof MessageSend>
export type HistoryFetch = Static<typeof HistoryFetch>
export type Typing = Static<typeof Typing>
export type ReceiptRead = Static<typeof ReceiptRead>
export type PresenceSubscribe = Static<typeof PresenceSubscribe>
export type AuthRefresh = Static<typeof AuthRefresh>
export type UserDisconnect = Static<typeof UserDisconnect>
