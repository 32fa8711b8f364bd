/**
 * Wire types of the client, derived (types only) from the server's TypeBox schemas in
 * src/schemas/, so a contract change breaks the client's build rather than its users. Nothing
 * here exists at run time: the client does not ship TypeBox.
 */
import type { Static, TSchema } from 'typebox'
import type { Message as MessageSchema, PresenceState as PresenceStateSchema } from '../schemas/common.js'
import type {
  AckError as AckErrorSchema, AdminClientEvents, AdminServerEvents, ErrorCode as ErrorCodeT,
  ErrorInfo as ErrorInfoSchema, MainClientEvents, MainServerEvents
} from '../schemas/events.js'

export type Message = Static<typeof MessageSchema>
export type PresenceState = Static<typeof PresenceStateSchema>
export type ErrorCode = ErrorCodeT
export type ErrorInfo = Static<typeof ErrorInfoSchema>
export type AckError = Static<typeof AckErrorSchema>

type ClientTable = Record<string, { payload: TSchema, ack: TSchema }>
type ServerTable = Record<string, { payload: TSchema }>

/** Payload of a client → server event of namespace `/`. */
export type Payload<E extends keyof typeof MainClientEvents> = Static<typeof MainClientEvents[E]['payload']>
/** The `ok: true` answer of a client → server event of namespace `/`. */
export type AckOk<E extends keyof typeof MainClientEvents> = Static<typeof MainClientEvents[E]['ack']>
/** Payload of a server → client event of namespace `/`. */
export type ServerPayload<E extends keyof typeof MainServerEvents> = Static<typeof MainServerEvents[E]['payload']>

/** socket.io-client's typed map of client → server events: payload then ack callback. */
export type EmitMap<T extends ClientTable> = {
  [E in keyof T]: (payload: Static<T[E]['payload']>, ack: (answer: Static<T[E]['ack']> | AckError) => void) => void
}
/** socket.io-client's typed map of server → client events. */
export type ListenMap<T extends ServerTable> = {
  [E in keyof T]: (payload: Static<T[E]['payload']>) => void
}

export type MainEmitEvents = EmitMap<typeof MainClientEvents>
export type MainListenEvents = ListenMap<typeof MainServerEvents>
export type AdminEmitEvents = EmitMap<typeof AdminClientEvents>
export type AdminListenEvents = ListenMap<typeof AdminServerEvents>

export type TypingEvent = ServerPayload<'typing'>
export type ReceiptEvent = ServerPayload<'receipt'>
export type RoomPresenceEvent = ServerPayload<'room:presence'>
export type NotificationEvent = ServerPayload<'notification'>
