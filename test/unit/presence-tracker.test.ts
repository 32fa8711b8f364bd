/**
 * The presence tracker over a fake store (no Redis, no timers: heartbeats are called directly):
 * what a failed write leaves for the next beat, the resync after this instance was swept, and
 * each socket's writes reaching the store in order even when the store is slow.
 */
import t from 'tap'
import { PresenceTracker } from '../../src/domain/presence-tracker.js'
import { appError } from '../../src/errors.js'
import type {
  ClusterStats, HeartbeatInput, HeartbeatResult, PresenceChange, PresenceState, PresenceStore,
  RoomChange, RoomMember, SweepResult
} from '../../src/stores/presence.js'

type Op = 'connect' | 'disconnect' | 'joinRoom' | 'leaveRoom'

/** Records every call; a write may be made to fail or to wait for `release`. */
class FakeStore implements PresenceStore {
  readonly instanceId = 'i1'
  readonly ttlMs = 3000
  /** `op:args` in the order the store received them */
  readonly calls: string[] = []
  /** and in the order they completed */
  readonly done: string[] = []
  readonly beats: HeartbeatInput[] = []
  /** ops that fail with `unavailable` (Redis away) */
  failing = new Set<Op>()
  /** ops that wait until released */
  slow = new Set<Op>()
  wasGone = false
  readonly #waiting: Array<() => void> = []

  release (): void {
    for (const r of this.#waiting.splice(0)) r()
  }

  async #write (op: Op, ...args: string[]): Promise<void> {
    const call = `${op}:${args.join(',')}`
    this.calls.push(call)
    if (this.slow.has(op)) await new Promise<void>(resolve => this.#waiting.push(resolve))
    if (this.failing.has(op)) throw appError('unavailable', 'storage is unavailable')
    this.done.push(call)
  }

  async connect (userId: string, socketId: string): Promise<PresenceChange> {
    await this.#write('connect', userId, socketId)
    return { edge: null, connections: 1 }
  }

  async disconnect (userId: string, socketId: string): Promise<PresenceChange> {
    await this.#write('disconnect', userId, socketId)
    return { edge: null, connections: 0 }
  }

  async joinRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    await this.#write('joinRoom', roomId, userId, socketId)
    return { edge: null }
  }

  async leaveRoom (roomId: string, userId: string, socketId: string): Promise<RoomChange> {
    await this.#write('leaveRoom', roomId, userId, socketId)
    return { edge: null }
  }

  async heartbeat (input: HeartbeatInput): Promise<HeartbeatResult> {
    this.beats.push(input)
    return { wasGone: this.wasGone }
  }

  async sweep (): Promise<SweepResult> { return { instances: [], edges: 0 } }
  async removeInstance (): Promise<void> {}
  async get (userId: string): Promise<PresenceState> { return { userId, status: 'offline', connections: 0, lastSeenAt: null } }
  async query (userIds: readonly string[]): Promise<PresenceState[]> { return await Promise.all(userIds.map(async u => await this.get(u))) }
  async roomMembers (): Promise<RoomMember[]> { return [] }
  async stats (): Promise<ClusterStats> { return { instances: [], onlineUsers: 0 } }
  onPresence (): void {}
  onRoomPresence (): void {}
  async ready (): Promise<void> {}
  async close (): Promise<void> {}
}

const quiet = { error () {}, warn () {}, info () {} }

function setup (): { store: FakeStore, tracker: PresenceTracker } {
  const store = new FakeStore()
  // periods far beyond the test: only the beats the test calls happen
  const tracker = new PresenceTracker({ store, log: quiet, heartbeatMs: 3_600_000, sweepMs: 3_600_000, rssBytes: () => 1 })
  return { store, tracker }
}

const lastBeat = (store: FakeStore): HeartbeatInput => store.beats[store.beats.length - 1]

t.test('a failed connect and join are rewritten on the next beat, then no longer marked', async (t) => {
  const { store, tracker } = setup()
  await tracker.heartbeat()
  t.same(lastBeat(store).users, [], 'nothing local yet')

  store.failing = new Set(['connect', 'joinRoom'])
  await tracker.connected('s1', 'alice')
  await tracker.joined('s1', 'lobby')
  t.same(store.done, [], 'neither write reached the store')

  store.failing.clear()
  await tracker.heartbeat()
  const beat = lastBeat(store)
  t.same(beat.users, [['alice', ['s1']]], 'the user is rewritten with her socket')
  t.same(beat.rooms, [['lobby', [['s1', 'alice']]]], 'the dirty room is rewritten with its members')
  t.same(beat.index, { users: ['alice'], rooms: ['lobby'] }, 'the crash index names both')
  t.same(beat.online, ['alice'])

  await tracker.heartbeat()
  t.same(lastBeat(store).rooms, [], 'a repaired room is not rewritten again')
  t.same(lastBeat(store).users, [['alice', ['s1']]], 'local users are refreshed on every beat')
})

t.test('a failed beat keeps the dirty marks for the next one', async (t) => {
  const { store, tracker } = setup()
  store.failing = new Set(['leaveRoom'])
  await tracker.connected('s1', 'bob')
  await tracker.joined('s1', 'r')
  await tracker.left('s1', 'r')
  const heartbeat = store.heartbeat.bind(store)
  store.heartbeat = async () => { throw appError('unavailable', 'storage is unavailable') }
  await tracker.heartbeat()
  store.heartbeat = heartbeat
  await tracker.heartbeat()
  t.same(lastBeat(store).rooms, [['r', []]], 'the room whose leave failed is rewritten empty after the failed beat')
})

t.test('a user who left since the last beat is rewritten once more with no socket', async (t) => {
  const { store, tracker } = setup()
  await tracker.connected('s1', 'carol')
  await tracker.heartbeat()
  await tracker.disconnected('s1')
  await tracker.heartbeat()
  t.same(lastBeat(store).users, [['carol', []]], 'removes any entry a lost write left behind')
  t.same(lastBeat(store).online, [])
  await tracker.heartbeat()
  t.same(lastBeat(store).users, [], 'and only once')
})

t.test('after being presumed dead (swept), the instance rewrites its rooms for three beats', async (t) => {
  const { store, tracker } = setup()
  await tracker.connected('s1', 'dave')
  await tracker.joined('s1', 'a')
  await tracker.connected('s2', 'erin')
  await tracker.joined('s2', 'b')
  await tracker.heartbeat()
  t.same(lastBeat(store).rooms, [], 'rooms written live are not rewritten')

  store.wasGone = true
  await tracker.heartbeat()
  t.same(lastBeat(store).rooms, [], 'the beat that learns it was gone has already been sent')
  store.wasGone = false
  for (let i = 0; i < 3; i++) {
    await tracker.heartbeat()
    t.same(lastBeat(store).rooms.map(([r]) => r).sort(), ['a', 'b'], `resync beat ${i + 1} rewrites every local room`)
    t.same(lastBeat(store).rooms.find(([r]) => r === 'a')?.[1], [['s1', 'dave']])
  }
  await tracker.heartbeat()
  t.same(lastBeat(store).rooms, [], 'then back to rewriting only dirty rooms')
})

t.test('a socket\'s writes reach a slow store in the order they happened; other sockets do not wait', async (t) => {
  const { store, tracker } = setup()
  store.slow = new Set(['connect'])
  const connected = tracker.connected('s1', 'frank')
  const joined = tracker.joined('s1', 'room')
  const left = tracker.left('s1', 'room')
  // another socket's join is not queued behind s1's slow connect
  store.slow.delete('connect')
  const other = tracker.connected('s2', 'gina')
  await other
  t.same(store.calls, ['connect:frank,s1', 'connect:gina,s2'], 's1\'s join waits for its connect; s2 does not')

  store.release()
  await Promise.all([connected, joined, left])
  t.same(store.calls, ['connect:frank,s1', 'connect:gina,s2', 'joinRoom:room,frank,s1', 'leaveRoom:room,frank,s1'])
  t.same(store.done.filter(c => c.includes('s1')), ['connect:frank,s1', 'joinRoom:room,frank,s1', 'leaveRoom:room,frank,s1'], 'completed in order too')

  store.slow = new Set(['joinRoom'])
  const j = tracker.joined('s1', 'later')
  const d = tracker.disconnected('s1')
  await new Promise(resolve => setImmediate(resolve))
  t.notOk(store.calls.some(c => c.startsWith('disconnect:')), 'the disconnect waits for the pending join')
  store.release()
  await Promise.all([j, d])
  t.same(store.calls.slice(-3), ['joinRoom:later,frank,s1', 'leaveRoom:later,frank,s1', 'disconnect:frank,s1'], 'join, then the disconnect leaves the room and removes the socket')
})

t.test('stop waits for pending writes, then no write or beat goes out', async (t) => {
  const { store, tracker } = setup()
  await tracker.connected('s1', 'hal')
  await tracker.stop()
  const before = store.calls.length
  await tracker.connected('s2', 'ivy')
  await tracker.joined('s1', 'r')
  await tracker.heartbeat()
  t.equal(store.calls.length, before, 'nothing after stop')
  t.equal(store.beats.length, 0)
})
