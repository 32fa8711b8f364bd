/**
 * What the pieces of the Redis presence store share (registry, sweeper, reads, edges): the
 * connection, the keys, who this instance is; and the steps that both the registry and the
 * sweeper take on a user.
 */
import type { Cluster, Redis } from 'ioredis'
import type { Keys } from '../keys.js'
import { offlineState, type PresenceChange } from '../presence.js'
import type { UserReply } from './lua/presence.js'

export interface PresenceContext {
  client: Redis | Cluster
  keys: Keys['presence']
  instanceId: string
  /** an entry not refreshed for this long counts as gone */
  ttlMs: number
}

/** Online-user ids go to the online-users count this many per command. */
export const ONLINE_CHUNK = 1000

export function toChange (userId: string, [edge, n, now]: UserReply): PresenceChange {
  if (edge === 'online') return { edge: { userId, status: 'online', connections: n, lastSeenAt: now }, connections: n }
  if (edge === 'offline') return { edge: offlineState(userId, now), connections: 0 }
  return { edge: null, connections: n }
}

/** Users whose change was an offline edge leave the online-users count; returns how many changes were edges. */
export async function forgetOffline (ctx: PresenceContext, userIds: string[], replies: UserReply[]): Promise<number> {
  const gone = userIds.filter((_, i) => replies[i][0] === 'offline')
  for (let i = 0; i < gone.length; i += ONLINE_CHUNK) {
    await ctx.client.sbOnlineRemove(ctx.keys.onlineUsers, ctx.ttlMs, ...gone.slice(i, i + ONLINE_CHUNK))
  }
  return replies.filter(r => r[0] !== 'none').length
}
