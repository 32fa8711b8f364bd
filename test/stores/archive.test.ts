/**
 * The PostgreSQL archive (issue 16, SPEC §8) with a real PostgreSQL (test/helpers/postgres.ts)
 * and a real Redis: the history contract against the archive-backed store, paging across the
 * Redis/archive boundary both ways, Redis flushed (history intact, new ids past the archive's
 * newest), PostgreSQL stopped mid-run (sends unaffected, the archive catches up), and two
 * archivers at once (no duplicates, no gaps, against a ledger of acked messages).
 */
import { readdirSync } from 'node:fs'
import t, { type Test } from 'tap'
import { pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import { compareIds } from '../../src/model/message-id.js'
import type { Message } from '../../src/schemas/common.js'
import { RedisHistoryStore } from '../../src/stores/redis/history.js'
import { ArchivedHistoryStore } from '../../src/stores/redis/archived-history.js'
import { Archiver, archiveDirtyKey } from '../../src/stores/redis/archiver.js'
import { PgArchive } from '../../src/stores/postgres/archive.js'
import { createKeys, type Keys } from '../../src/stores/keys.js'
import { redisClient, startRedis, uniquePrefix } from '../helpers/redis.js'
import { createDatabase, startPostgres } from '../helpers/postgres.js'
import { until } from '../helpers/net.js'
import { newestOf } from '../../plugins/messages.js'
import { historyContract } from './history.contract.js'

const redis = await startRedis({ own: true })
t.teardown(redis.close)
const pgServer = await startPostgres()
t.teardown(pgServer.close)

const silent = pino({ level: 'silent' }) as unknown as FastifyBaseLogger
let dbs = 0

interface Rig {
  store: ArchivedHistoryStore
  archive: PgArchive
  archiver: Archiver
  keys: Keys
  probe: Redis
  client: Redis
}

async function rig (t: Test, maxLen: number, opts: { url?: string, keys?: Keys } = {}): Promise<Rig> {
  const url = opts.url ?? await createDatabase(pgServer.url, `sb_${process.pid}_${dbs++}`)
  const archive = new PgArchive(url, silent, { queryTimeoutMs: 2000 })
  await archive.start()
  t.teardown(() => archive.close())
  const keys = opts.keys ?? createKeys(uniquePrefix('archive'))
  const client = redisClient(t, redis.url)
  const inner = new RedisHistoryStore({
    client,
    subscriber: redisClient(t, redis.url),
    keys,
    maxLen,
    archive: {
      dirtyKey: archiveDirtyKey(keys),
      backlogMaxLen: maxLen * 10,
      newest: async (roomId) => archive.up ? (await archive.newest(roomId)) ?? '0-0' : '0-1'
    }
  })
  const store = new ArchivedHistoryStore({ inner, client, keys, archive })
  t.teardown(() => store.close())
  const archiver = new Archiver({ client: redisClient(t, redis.url), keys, archive, maxLen, log: silent, batch: 50, intervalMs: 50 })
  t.teardown(() => archiver.stop())
  return { store, archive, archiver, keys, probe: redisClient(t, redis.url), client }
}

historyContract(t, {
  name: 'archive',
  archived: true,
  create: async (t, { maxLen }) => {
    const { store, archiver, keys, probe } = await rig(t, maxLen)
    return {
      store,
      settle: async () => { await archiver.pass() },
      // what a flush does to a room once the archiver caught up
      reset: async (roomId) => {
        await archiver.pass()
        await probe.del(keys.roomHistory(roomId), keys.roomMeta(roomId))
      },
      listening: async () => { await store.ready() }
    }
  }
})

const ids = (ms: Message[]): string[] => ms.map(m => m.id)

async function fill (store: ArchivedHistoryStore, roomId: string, n: number, tag = 'm'): Promise<Message[]> {
  const out: Message[] = []
  for (let i = 0; i < n; i++) out.push((await store.append({ roomId, userId: 'u', text: `${tag}${i}` })).message)
  return out
}

async function pageBackward (store: ArchivedHistoryStore, roomId: string, limit: number): Promise<string[]> {
  const out: string[] = []
  let before: string | undefined
  for (;;) {
    const p = await store.range(roomId, { limit, ...(before !== undefined && { before }) })
    out.unshift(...ids(p.messages))
    if (!p.hasMore) return out
    before = p.messages[0].id
  }
}

async function pageForward (store: ArchivedHistoryStore, roomId: string, limit: number): Promise<string[]> {
  const out: string[] = []
  let after = '1-0'
  for (;;) {
    const p = await store.range(roomId, { limit, after })
    out.push(...ids(p.messages))
    if (!p.hasMore) return out
    after = p.messages[p.messages.length - 1].id
  }
}

t.test('archive: pages straddle Redis and the archive seamlessly, both ways', async (t) => {
  const { store, archiver, keys, probe } = await rig(t, 5)
  const all = await fill(store, 'r', 23)
  await archiver.pass()
  t.equal(await probe.xlen(keys.roomHistory('r')), 5, 'Redis trimmed to HISTORY_MAX_MESSAGES once archived')
  // three more that are only in Redis: the boundary moves, nothing unarchived is trimmed
  all.push(...await fill(store, 'r', 3, 'late'))
  t.equal(await probe.xlen(keys.roomHistory('r')), 8, 'unarchived messages are never trimmed')
  for (const limit of [1, 4, 5, 7, 50]) {
    t.same(await pageBackward(store, 'r', limit), ids(all), `newest first, limit ${limit}`)
    t.same(await pageForward(store, 'r', limit), ids(all), `oldest first, limit ${limit}`)
  }
  const mid = await store.range('r', { after: all[2].id, before: all[20].id, limit: 100 })
  t.same(ids(mid.messages), ids(all.slice(3, 20)), 'after + before across the boundary')
  const since = await store.since('r', all[3].id, 10)
  t.same(since, { missed: all.slice(4, 14), hasMore: true, recovered: true }, 'since: from the archive on into Redis')
  const full = await store.since('r', all[3].id, 200)
  t.same(ids(full.missed), ids(all.slice(4)))
  t.same((await store.range('r', { limit: 100 })).messages, all, 'field for field as acked')
})

t.test('archive: Redis flushed → history intact, new ids past the archive\'s newest', async (t) => {
  const { store, archive, archiver, probe } = await rig(t, 100)
  const old = await fill(store, 'room.a', 10)
  await archiver.pass()
  // an archived id from a clock ahead of this one: a new epoch must still start after it
  const future = `${Date.now() + 60_000}-3`
  await archive.insert('room.b', [{ id: future, roomId: 'room.b', userId: 'u', text: 'from the future', at: Number(future.split('-')[0]) } as Message])
  await probe.flushall()
  t.same((await store.range('room.a', { limit: 100 })).messages, old, 'served from the archive')
  t.same(ids((await store.since('room.a', old[4].id, 100)).missed), ids(old.slice(5)))
  const next = await fill(store, 'room.a', 2)
  t.ok(compareIds(next[0].id, old[9].id) > 0, 'new ids continue past the archive')
  const b = await fill(store, 'room.b', 1)
  t.ok(compareIds(b[0].id, future) > 0, `an epoch starts after the archive's newest (${future} < ${b[0].id})`)
  t.same(ids((await store.range('room.a', { limit: 100 })).messages), ids([...old, ...next]), 'one history across the flush')
})

t.test('archive: PostgreSQL stopped mid-run → sends unaffected, the archive catches up', { skip: !pgServer.owned && 'external DATABASE_URL' }, async (t) => {
  const own = await startPostgres({ own: true, env: {} })
  t.teardown(own.close)
  const { store, archive, archiver } = await rig(t, 20, { url: own.url })
  // the reads' own copy, as on the main thread (the archiver thread has another): nothing but
  // reads ever touches it, so it must find PostgreSQL back by itself after the outage
  const reads = new PgArchive(own.url, silent)
  t.teardown(() => reads.close())
  await reads.start()
  archiver.start()
  const sent = await fill(store, 'r', 10)
  await until(async () => (await archive.page('r', { limit: 100, from: 'after' })).length === 10, 10_000)
  await own.stop()
  await t.rejects(reads.page('r', { limit: 100, from: 'after' }), 'a read while PostgreSQL is down fails')
  t.equal(reads.up, false, 'the reads\' copy knows it is down')
  const slowest: number[] = []
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now()
    sent.push((await store.append({ roomId: 'r', userId: 'u', text: `down${i}` })).message)
    slowest.push(performance.now() - t0)
  }
  slowest.sort((a, b) => b - a)
  t.ok(slowest[0] < 500, `sends unaffected while PostgreSQL is down (slowest ${slowest[0].toFixed(1)} ms)`)
  await until(() => archiver.lag >= 50, 10_000)
  t.ok(archiver.lag >= 50, `lag shows in the gauge (${archiver.lag})`)
  const recent = await store.range('r', { limit: 20 })
  t.same(ids(recent.messages), ids(sent.slice(-20)), 'recent history still served from Redis')
  await own.start()
  await until(() => archiver.lag === 0, 20_000, 100)
  const rows = await archive.page('r', { limit: 1000, from: 'after' })
  t.same(ids(rows), ids(sent), 'every message archived once, in order, after the outage')
  await until(() => reads.up, 5000, 100).catch(() => {})
  t.equal(reads.up, true, 'the reads\' copy is up again by itself (no read, no outside probe)')
  t.same(ids(await reads.page('r', { limit: 1000, from: 'after' })), ids(sent), 'reads answer from the archive again')
})

t.test('archive: a read takes only its request\'s time left (SPEC §8 2 s bound) when PostgreSQL hangs, and that says nothing about PostgreSQL', async (t) => {
  const a = await rig(t, 10)
  await a.archive.insert('r', [{ id: '5-0', roomId: 'r', userId: 'u', text: 'x', at: 5 } as Message])
  // a hang without stopping the server: another session holds the table locked
  const locker = await a.archive.pool.connect()
  t.teardown(() => { locker.release() })
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE switchboard_messages IN ACCESS EXCLUSIVE MODE')
  const t0 = performance.now()
  await t.rejects(a.archive.page('r', { limit: 10, from: 'after' }, Date.now() + 300), 'the read gives up at its deadline')
  const took = performance.now() - t0
  t.ok(took < 1000, `within the deadline, not the pool's 5 s query timeout (${took.toFixed(0)} ms)`)
  await t.rejects(a.archive.page('r', { limit: 10, from: 'after' }, Date.now() - 1), 'no time left: refused at once')
  t.equal(a.archive.up, true, 'a request running out of time does not mark the archive down')
  await locker.query('ROLLBACK')
  t.same((await a.archive.page('r', { limit: 10, from: 'after' }, Date.now() + 1500)).map(m => m.id), ['5-0'])
})

t.test('archive: concurrent first sends into a new room share one newest-id lookup (plugins/messages.ts)', async (t) => {
  const a = await rig(t, 10)
  await a.archive.insert('seen', [{ id: '7-1', roomId: 'seen', userId: 'u', text: 'x', at: 7 } as Message])
  let queries = 0
  const counted = { get up () { return a.archive.up }, newest: async (room: string) => { queries++; return await a.archive.newest(room) } }
  const newest = newestOf(counted, silent)
  const got = await Promise.all(Array.from({ length: 50 }, (_, i) => newest(i % 2 === 0 ? 'seen' : 'fresh')))
  t.equal(queries, 2, 'one query per room for 50 concurrent calls')
  t.same([...new Set(got)].sort(), ['0-0', '7-1'], 'each room\'s answer')
  t.equal(await newest('seen'), '7-1')
  t.equal(queries, 3, 'a later call asks again (nothing cached past the lookup)')
})

t.test('archive: two archivers at once → no duplicates, no gaps (ledger)', async (t) => {
  const a = await rig(t, 10)
  const b = await rig(t, 10, { url: undefined, keys: a.keys })
  // b shares a's Redis keys but not its database: point b's archiver at a's archive instead
  const second = new Archiver({ client: b.client, keys: a.keys, archive: a.archive, maxLen: 10, log: silent, batch: 7, intervalMs: 10 })
  t.teardown(() => second.stop())
  a.archiver.start()
  second.start()
  const ledger = new Map<string, string[]>()
  const rooms = ['r0', 'r1', 'r2', 'r3', 'r4']
  await Promise.all(rooms.map(async (room, k) => {
    const sender = k % 2 === 0 ? a.store : b.store
    const got: string[] = []
    for (let i = 0; i < 80; i++) got.push((await sender.append({ roomId: room, userId: 'u', text: `${room}:${i}` })).message.id)
    ledger.set(room, got)
  }))
  await until(async () => (await a.probe.scard(archiveDirtyKey(a.keys))) === 0, 20_000, 100)
  const { rows } = await a.archive.pool.query<{ room_id: string, id: string }>(
    "SELECT room_id, ms || '-' || seq AS id FROM switchboard_messages ORDER BY room_id, ms, seq")
  for (const room of rooms) {
    t.same(rows.filter(r => r.room_id === room).map(r => r.id), ledger.get(room), `${room}: exactly the acked messages, in order`)
  }
  t.equal(rows.length, 400, 'no duplicates, no strays')
})

t.test('archive: several instances migrating at once (advisory lock) all come up on one schema', async (t) => {
  const url = await createDatabase(pgServer.url, `sb_${process.pid}_migrate`)
  const archives = [0, 1, 2].map(() => new PgArchive(url, silent))
  for (const a of archives) t.teardown(() => a.close())
  await Promise.all(archives.map(async a => { await a.start() }))
  t.same(archives.map(a => a.up), [true, true, true])
  const { rows } = await archives[0].pool.query<{ name: string }>('SELECT name FROM switchboard_migrations')
  const files = readdirSync(new URL('../../src/stores/postgres/migrations/', import.meta.url)).filter(f => f.endsWith('.ts'))
  t.strictSame(rows.map(r => r.name).sort(), files.map(f => f.replace(/\.ts$/, '')).sort(), 'each migration ran once')
  t.equal(await archives[1].insert('r', [{ id: '5-0', roomId: 'r', userId: 'u', text: 'x', at: 5 } as Message]), 1)
  t.equal(await archives[2].insert('r', [{ id: '5-0', roomId: 'r', userId: 'u', text: 'x', at: 5 } as Message]), 0, 'a repeat insert is a no-op (ON CONFLICT DO NOTHING)')
})

t.test('archive: many rooms in one round share its rows (count per room below one batch); all archived, in order, once', async (t) => {
  const a = await rig(t, 10)
  // batch 3: a round takes at most 12 rows, so 25 rooms get 1 row each per round at first
  const archiver = new Archiver({ client: a.client, keys: a.keys, archive: a.archive, maxLen: 10, log: silent, batch: 3, intervalMs: 10 })
  t.teardown(() => archiver.stop())
  const ledger = new Map<string, string[]>()
  for (let k = 0; k < 25; k++) ledger.set(`m${k}`, ids(await fill(a.store, `m${k}`, 1 + (k % 7) * 3)))
  archiver.start()
  await until(async () => (await a.probe.scard(archiveDirtyKey(a.keys))) === 0, 20_000, 50)
  const { rows } = await a.archive.pool.query<{ room_id: string, id: string }>(
    "SELECT room_id, ms || '-' || seq AS id FROM switchboard_messages ORDER BY room_id, ms, seq")
  for (const [room, sent] of ledger) t.same(rows.filter(r => r.room_id === room).map(r => r.id), sent, `${room}: ${sent.length} rows`)
  t.equal(rows.length, [...ledger.values()].reduce((n, v) => n + v.length, 0), 'no duplicates, no strays')
  t.equal(archiver.lag, 0)
})

t.test('archive: a row is the acked message field for field, whatever the draft (the read script splices the stored JSON)', async (t) => {
  const a = await rig(t, 10)
  const acked = [
    (await a.store.append({ roomId: 'shapes', userId: 'u', text: 'hi' })).message,
    (await a.store.append({ roomId: 'shapes', userId: 'bob', name: 'Bob "B" \\ é', text: 'a\nb\u2028c 😀', meta: { k: [1, { x: null }], '"': '\\' }, clientMsgId: 'c-1' })).message,
    (await a.store.append({ roomId: 'shapes', userId: 'u', text: '', meta: {} })).message,
    (await a.store.append({ roomId: 'other "room" é', userId: 'u', text: 'x' })).message
  ]
  await a.archiver.pass()
  const { rows } = await a.archive.pool.query<{ room_id: string, body: Message }>('SELECT room_id, body FROM switchboard_messages ORDER BY ms, seq')
  t.same(rows.map(r => r.body), acked, 'the bodies are the acked messages')
  t.strictSame(rows.map(r => r.room_id), ['shapes', 'shapes', 'shapes', 'other "room" é'], 'each in its room')
  t.equal(a.archiver.lag, 0)
})

t.test('archive: a text holding U+0000 is archived as acked, and does not stop its round (PostgreSQL jsonb refuses \\u0000)', async (t) => {
  const a = await rig(t, 10)
  const nul = (await a.store.append({ roomId: 'nul', userId: 'u', text: 'a\u0000b', meta: { '\u0000': '\u0000' } })).message
  const other = (await a.store.append({ roomId: 'fine', userId: 'u', text: 'x' })).message
  t.equal(await a.archiver.pass(), 0, 'one pass: nothing left')
  t.equal(a.archiver.errors, 0, 'no failed insert')
  t.same(await a.archive.page('nul', { limit: 10, from: 'after' }), [nul], 'served from the archive as acked')
  t.same(await a.archive.page('fine', { limit: 10, from: 'after' }), [other], 'the round\'s other room archived too')
})

t.test('archive: a round over more rooms than one script takes (sliced, 50 rooms a script): all archived, in order, once', async (t) => {
  const a = await rig(t, 10)
  const ledger = new Map<string, string[]>()
  for (let k = 0; k < 130; k++) ledger.set(`s${k}`, ids(await fill(a.store, `s${k}`, 1 + (k % 3))))
  t.equal(await a.probe.scard(archiveDirtyKey(a.keys)), 130)
  t.equal(await a.archiver.pass(), 0, 'one pass: nothing left')
  const { rows } = await a.archive.pool.query<{ room_id: string, id: string }>(
    "SELECT room_id, ms || '-' || seq AS id FROM switchboard_messages ORDER BY room_id, ms, seq")
  for (const [room, sent] of ledger) t.same(rows.filter(r => r.room_id === room).map(r => r.id), sent, `${room}: ${sent.length} rows`)
  t.equal(rows.length, [...ledger.values()].reduce((n, v) => n + v.length, 0), 'no duplicates, no strays')
  t.equal(await a.probe.scard(archiveDirtyKey(a.keys)), 0, 'no room left dirty')
})
