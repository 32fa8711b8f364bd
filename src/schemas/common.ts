/** Shared TypeBox schemas: ids, cursors and the wire shapes of SPEC §5. */
import { Type, type Static } from './type.js'

export const ROOM_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$'
/** Message ids are stream positions `<ms>-<seq>`: opaque to clients, ordered within a room. */
export const MESSAGE_ID_PATTERN = '^[0-9]{1,15}-[0-9]{1,15}$'

export const RoomId = Type.String({ pattern: ROOM_ID_PATTERN, minLength: 1, maxLength: 128, description: 'room id' })
export const UserId = Type.String({ minLength: 1, maxLength: 128, description: 'user id (JWT sub)' })
export const MessageId = Type.String({ pattern: MESSAGE_ID_PATTERN, maxLength: 31, description: 'message id, usable as a cursor' })
/** Hard cap for `text` in the schema; the configured MESSAGE_MAX_LENGTH is checked by the service (413). */
export const TEXT_HARD_MAX = 1_000_000
export const Text = Type.String({ minLength: 1, maxLength: TEXT_HARD_MAX })
export const ClientMsgId = Type.String({ minLength: 1, maxLength: 128 })
export const Meta = Type.Record(Type.String(), Type.Unknown(), { description: 'JSON object, at most 2 KiB serialized' })
export const META_MAX_BYTES = 2048

export const Message = Type.Object({
  id: MessageId,
  roomId: RoomId,
  userId: UserId,
  name: Type.Optional(Type.String()),
  text: Type.String(),
  meta: Type.Optional(Meta),
  clientMsgId: Type.Optional(ClientMsgId),
  at: Type.Integer({ description: 'epoch ms' })
})
export type Message = Static<typeof Message>

export const PresenceState = Type.Object({
  userId: UserId,
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  connections: Type.Integer({ minimum: 0 }),
  lastSeenAt: Type.Union([Type.Integer(), Type.Null()])
})
export type PresenceState = Static<typeof PresenceState>

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
  /** set with `rate_limited` (SPEC §4); the response schema would strip it otherwise */
  retryAfterMs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** set with `invalid_payload` (SPEC §4): the failing paths, as JSON pointers into the payload */
  details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() })))
})

/** The error responses every authenticated REST route can give, for its OpenAPI schema. */
export const ErrorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody }
