/**
 * What the presence suites share: a harness making stores, recorders of edges, and barriers.
 * Absence of an edge is asserted without sleeping: edges travel on one ordered channel, so once
 * a sentinel edge caused afterwards has arrived, every edge caused before it has arrived too.
 */
import type {
  HeartbeatInput, InstanceStats, PresenceState, PresenceStore, RoomPresenceEvent
} from '../../src/stores/presence.js'
import { until } from '../helpers/net.js'

export interface PresenceHarness {
  /** a store speaking for `instanceId`; every store of one harness shares one registry */
  make: (instanceId: string, ttlMs: number) => Promise<PresenceStore>
}

export interface Recorder {
  presence: PresenceState[]
  rooms: RoomPresenceEvent[]
  of: (userId: string) => PresenceState[]
  roomOf: (roomId: string, userId?: string) => RoomPresenceEvent[]
}

export function record (store: PresenceStore): Recorder {
  const presence: PresenceState[] = []
  const rooms: RoomPresenceEvent[] = []
  store.onPresence(s => presence.push(s))
  store.onRoomPresence(e => rooms.push(e))
  return {
    presence,
    rooms,
    of: (userId) => presence.filter(s => s.userId === userId),
    roomOf: (roomId, userId) => rooms.filter(e => e.roomId === roomId && (userId === undefined || e.userId === userId))
  }
}

let sentinels = 0

/** Causes a fresh online edge and waits for every recorder to see it: all earlier user edges have arrived. */
export async function settle (store: PresenceStore, ...recs: Recorder[]): Promise<void> {
  const userId = `sentinel-${++sentinels}`
  await store.connect(userId, 's0')
  await until(() => recs.every(r => r.of(userId).length === 1), 5000)
  await store.disconnect(userId, 's0')
  await until(() => recs.every(r => r.of(userId).length === 2), 5000)
}

/** The same for room edges. */
export async function settleRooms (store: PresenceStore, ...recs: Recorder[]): Promise<void> {
  const roomId = `sentinel-room-${++sentinels}`
  await store.joinRoom(roomId, 'sentinel', 's0')
  await store.leaveRoom(roomId, 'sentinel', 's0')
  await until(() => recs.every(r => r.roomOf(roomId).length === 2), 5000)
}

export function stats (id: string, connections = 0): InstanceStats {
  return { id, connections, rooms: 0, uptimeS: 1, rssBytes: 1000 }
}

export function beat (id: string, extra: Partial<HeartbeatInput> = {}): HeartbeatInput {
  return { stats: stats(id), users: [], rooms: [], index: { users: [], rooms: [] }, online: [], ...extra }
}

export const statuses = (states: PresenceState[]): string[] => states.map(s => s.status)
