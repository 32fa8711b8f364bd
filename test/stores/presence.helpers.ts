/**
 * What the presence suites share: a harness making stores, recorders of edges, and barriers.
 * Absence of an edge is asserted without sleeping: edges travel on one ordered channel, so once
 * a sentinel edge caused afterwards has arrived, every edge caused before it has arrived too.
 * On a Redis Cluster that order holds per node only (each edge is published by the node of its
 * user's or room's slot), so a barrier is a set of sentinels spread over the whole slot space:
 * one on every node, whatever the cluster's layout.
 */
import { createRequire } from 'node:module'
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
/** Redis Cluster's key → slot (CRC16 of the hash tag), from the package ioredis itself uses */
const slotOf = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number
const SLOTS = 16384
const SPREAD = 16

/** `SPREAD` fresh ids, one in each sixteenth of the slot space when tagged by `tag`. */
function spreadIds (prefix: string, tag: (id: string) => string): string[] {
  const out: Array<string | undefined> = new Array(SPREAD).fill(undefined)
  let found = 0
  for (let i = 0; found < SPREAD; i++) {
    const id = `${prefix}${i}`
    const bucket = Math.floor(slotOf(tag(id)) / (SLOTS / SPREAD))
    if (out[bucket] === undefined) { out[bucket] = id; found++ }
  }
  return out as string[]
}

/** Causes fresh online and offline edges (one user per node) and waits for every recorder to see them: all earlier user edges have arrived. */
export async function settle (store: PresenceStore, ...recs: Recorder[]): Promise<void> {
  const users = spreadIds(`sentinel-${++sentinels}-`, id => `u:${id}`)
  for (const u of users) await store.connect(u, 's0')
  await until(() => recs.every(r => users.every(u => r.of(u).length === 1)), 5000)
  for (const u of users) await store.disconnect(u, 's0')
  await until(() => recs.every(r => users.every(u => r.of(u).length === 2)), 5000)
}

/** The same for room edges (one room per node). */
export async function settleRooms (store: PresenceStore, ...recs: Recorder[]): Promise<void> {
  const rooms = spreadIds(`sentinel-room-${++sentinels}-`, id => `r:${id}`)
  for (const room of rooms) {
    await store.joinRoom(room, 'sentinel', 's0')
    await store.leaveRoom(room, 'sentinel', 's0')
  }
  await until(() => recs.every(r => rooms.every(room => r.roomOf(room).length === 2)), 5000)
}

export function stats (id: string, connections = 0): InstanceStats {
  return { id, connections, rooms: 0, uptimeS: 1, rssBytes: 1000 }
}

export function beat (id: string, extra: Partial<HeartbeatInput> = {}): HeartbeatInput {
  return { stats: stats(id), users: [], rooms: [], index: { users: [], rooms: [] }, online: [], ...extra }
}

export const statuses = (states: PresenceState[]): string[] => states.map(s => s.status)
