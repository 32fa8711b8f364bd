/**
 * The one Redis key builder. Every key of a room shares the hash tag `{r:<roomId>}` so the Lua
 * scripts that touch several of them stay on one slot in Redis Cluster. Room ids cannot hold
 * braces (SPEC §3 pattern), so the tag is always the room id.
 */
export interface Keys {
  prefix: string
  roomHistory: (roomId: string) => string
  roomMeta: (roomId: string) => string
  idempotency: (roomId: string, userId: string, clientMsgId: string) => string
  roomReceipts: (roomId: string) => string
  messagesChannel: string
}

export function createKeys (prefix: string): Keys {
  return {
    prefix,
    roomHistory: roomId => `${prefix}{r:${roomId}}:h`,
    roomMeta: roomId => `${prefix}{r:${roomId}}:meta`,
    // userId and clientMsgId are length-prefixed so no two pairs can produce the same key
    idempotency: (roomId, userId, clientMsgId) => `${prefix}{r:${roomId}}:idem:${userId.length}:${userId}:${clientMsgId}`,
    roomReceipts: roomId => `${prefix}{r:${roomId}}:rcpt`,
    messagesChannel: `${prefix}messages`
  }
}
