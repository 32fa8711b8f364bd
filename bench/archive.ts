/**
 * `node --import=tsx bench/archive.ts [--rate 400] [--seconds 10] [--rooms 50] [--backlog 20000] [--json]`
 *
 * The PostgreSQL archive's own figures (issue 16), on a Redis and a PostgreSQL this script starts
 * (test/helpers) and stops: (1) archive lag under a steady send load (the gauge sampled every
 * 50 ms, and ack → archived delay of every message from its row's archived_at), (2) archive throughput: messages/s into
 * PostgreSQL draining a backlog built with the archiver stopped, with the CPU it costs per message:
 * the archiver's own (this process does nothing else while draining: process.cpuUsage), the
 * PostgreSQL server's (its processes in /proc) and Redis' (INFO cpu). `npm run bench` runs it as
 * its `archive` scenario with `--json` (one line `archive-figures: {…}` with the figures).
 */
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { RedisHistoryStore } from '../src/stores/redis/history.js'
import { Archiver, archiveDirtyKey } from '../src/stores/redis/archiver.js'
import { PgArchive } from '../src/stores/postgres/archive.js'
import { createKeys } from '../src/stores/keys.js'
import { startRedis } from '../test/helpers/redis.js'
import { startPostgres } from '../test/helpers/postgres.js'
import { sleep } from '../test/helpers/net.js'
import { cpuMsLive } from './lib/proc.js'
import { parseRedisCpuMs, postgresPids } from './lib/targets.js'

const { values } = parseArgs({ options: { rate: { type: 'string', default: '400' }, seconds: { type: 'string', default: '10' }, rooms: { type: 'string', default: '50' }, backlog: { type: 'string', default: '20000' }, json: { type: 'boolean', default: false } } })
const rate = Number(values.rate)
const seconds = Number(values.seconds)
const rooms = Number(values.rooms)
const backlog = Number(values.backlog)

/** the line `npm run bench` reads the figures from (other lines, logs included, are ignored) */
const JSON_MARK = 'archive-figures: '

const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0 }

const redis = await startRedis({ own: true })
const pgs = await startPostgres({ env: {} })
const log = pino({ level: 'warn' }) as unknown as FastifyBaseLogger
const clients: Redis[] = []
const client = (): Redis => { const c = new Redis(redis.url); clients.push(c); return c }
try {
  const archive = new PgArchive(pgs.url, log)
  await archive.start()
  const run = async (prefix: string): Promise<{ store: RedisHistoryStore, archiver: Archiver }> => {
    const keys = createKeys(prefix)
    const c = client()
    const store = new RedisHistoryStore({
      client: c,
      subscriber: client(),
      keys,
      maxLen: 1000,
      archive: { dirtyKey: archiveDirtyKey(keys), backlogMaxLen: 10_000, newest: async (r) => (await archive.newest(r)) ?? '0-0' }
    })
    return { store, archiver: new Archiver({ client: client(), keys, archive, maxLen: 1000, log }) }
  }

  // (1) lag under load
  const a = await run('bench:lag:')
  a.archiver.start()
  const lagSamples: number[] = []
  const acked = new Map<string, number>()
  const sampler = setInterval(() => { lagSamples.push(a.archiver.lag) }, 50)
  const total = rate * seconds
  const t0 = performance.now()
  const pending: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    const roomId = `room${i % rooms}`
    const p = a.store.append({ roomId, userId: 'u', text: `m${i}` }).then(({ message }) => {
      acked.set(`${roomId} ${message.id}`, Date.now())
    })
    pending.push(p)
  }
  await Promise.all(pending)
  while (a.archiver.lag > 0 || a.archiver.archived < total) await sleep(50)
  clearInterval(sampler)
  await a.archiver.stop()
  // ack → archived: the row's archived_at (the inserting transaction's start) minus the ack time
  const { rows } = await archive.pool.query<{ room_id: string, id: string, at: string }>(
    "SELECT room_id, ms || '-' || seq AS id, (extract(epoch from archived_at) * 1000)::bigint AS at FROM switchboard_messages")
  const delays = rows.map(r => Number(r.at) - (acked.get(`${r.room_id} ${r.id}`) ?? Number(r.at)))
  const lagP99 = pct(lagSamples, 0.99)
  const ackArchivedP99Ms = pct(delays, 0.99)
  console.log(`lag under ${rate} msg/s over ${rooms} rooms for ${seconds} s: gauge p50 ${pct(lagSamples, 0.5)} p99 ${pct(lagSamples, 0.99)} max ${Math.max(...lagSamples)} messages; ack→archived p50 ${pct(delays, 0.5).toFixed(0)} ms p99 ${pct(delays, 0.99).toFixed(0)} ms max ${Math.max(...delays).toFixed(0)} ms (n=${delays.length}, from archived_at)`)

  // (2) throughput draining a backlog
  const b = await run('bench:drain:')
  for (let i = 0; i < backlog; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, backlog - i) }, async (_, k) => await b.store.append({ roomId: `room${(i + k) % 100}`, userId: 'u', text: `b${i + k}` })))
  }
  const pgPids = await postgresPids(pgs.url)
  const info = client()
  const cpu0 = process.cpuUsage()
  const pg0 = cpuMsLive(pgPids)
  const r0 = parseRedisCpuMs(await info.info('cpu'))
  const d0 = performance.now()
  while (await b.archiver.pass() > 0) { /* drain */ }
  const secs = (performance.now() - d0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const archiverMs = (cpu.user + cpu.system) / 1000
  const pgMs = cpuMsLive(pgPids) - pg0
  const redisMs = parseRedisCpuMs(await info.info('cpu')) - r0
  const n = Math.max(1, b.archiver.archived)
  const msgPerS = b.archiver.archived / secs
  console.log(`throughput: ${backlog} messages over 100 rooms archived in ${secs.toFixed(2)} s = ${Math.round(msgPerS)} messages/s into PostgreSQL (batch 500); CPU per message: archiver ${(archiverMs * 1000 / n).toFixed(1)} µs, postgres ${(pgMs * 1000 / n).toFixed(1)} µs, redis ${(redisMs * 1000 / n).toFixed(1)} µs`)
  if (values.json) {
    console.log(JSON_MARK + JSON.stringify({ lagP99, ackArchivedP99Ms, msgPerS, archiverUsPerMsg: archiverMs * 1000 / n, pgUsPerMsg: pgPids.length > 0 ? pgMs * 1000 / n : null, redisUsPerMsg: redisMs * 1000 / n, archived: b.archiver.archived }))
  }
  await archive.close()
} finally {
  for (const c of clients) c.disconnect()
  await redis.close()
  await pgs.close()
}
