/**
 * The reads of the Redis presence store: user states (many in one round trip), room members
 * (only entries of live instances count, swept or not) and cluster stats.
 */
import type { PresenceState } from '../../schemas/common.js'
import { ENTRY_SEPARATOR, presenceState, type ClusterStats, type InstanceStats, type RoomMember } from '../presence.js'
import { Batch } from './batch.js'
import type { UserReadReply } from './lua/presence.js'
import type { PresenceContext } from './presence-context.js'

export async function queryUsers (ctx: PresenceContext, userIds: readonly string[]): Promise<PresenceState[]> {
  if (userIds.length === 0) return []
  const { client, keys: k, ttlMs } = ctx
  const b = new Batch(client)
  const replies = userIds.map(u => b.add<UserReadReply>(c => c.sbUserRead(k.userConns(u), k.userState(u), ttlMs)))
  await b.run()
  return await Promise.all(userIds.map(async (u, i) => {
    const [n, seen, now] = await replies[i]
    return presenceState(u, n, now, seen < 0 ? null : seen)
  }))
}

export async function roomMembers (ctx: PresenceContext, roomId: string): Promise<RoomMember[]> {
  const { client, keys: k } = ctx
  const [[, live], conns] = await Promise.all([
    client.sbInstancesLive(k.instances, k.instanceStats, k.onlineUsers),
    client.hgetall(k.roomConns(roomId))
  ])
  const liveIds = new Set(live.map(([id]) => id))
  const counts = new Map<string, number>()
  for (const [entry, userId] of Object.entries(conns)) {
    // entries of an instance whose heartbeat stopped are not counted, swept or not
    if (!liveIds.has(entry.slice(0, entry.indexOf(ENTRY_SEPARATOR)))) continue
    counts.set(userId, (counts.get(userId) ?? 0) + 1)
  }
  return [...counts].map(([userId, connections]) => ({ userId, connections }))
    .sort((a, b) => a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)
}

export async function clusterStats (ctx: PresenceContext): Promise<ClusterStats> {
  const { client, keys: k } = ctx
  const [onlineUsers, live] = await client.sbInstancesLive(k.instances, k.instanceStats, k.onlineUsers)
  return { instances: live.map(([id, json]) => parseStats(id, json)), onlineUsers: Number(onlineUsers) }
}

function parseStats (id: string, json: string): InstanceStats {
  let s: Partial<InstanceStats> = {}
  try { s = JSON.parse(json) as Partial<InstanceStats> } catch {}
  const num = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0
  return { id, connections: num(s.connections), rooms: num(s.rooms), uptimeS: num(s.uptimeS), rssBytes: num(s.rssBytes) }
}
