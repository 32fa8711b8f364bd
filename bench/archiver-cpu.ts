/**
 * `node --import=tsx bench/archiver-cpu.ts [--rate 2000] [--seconds 10] [--rooms 1000] [--interval ms] [--batch n] [--no-archiver]`
 *
 * What the archiver costs (issue 16), without the sockets' noise: a child process appends
 * `rate × seconds` messages round-robin over `rooms` rooms (small-rooms' shape: 2000 msg/s over
 * 1000 rooms) into a Redis this script starts, while this process runs nothing but an
 * ArchiverProcess into a PostgreSQL it starts (test/helpers). Reports CPU per archived message
 * of the archiver's own process (`sb-archiver`, a child of this one, found in /proc by its
 * title), of this process by thread (/proc/self/task/*: what the archiver still costs the
 * process that hosts it — ~0 since it has a process of its own; as a worker thread it cost this
 * process 6.5–8 µs/message of V8 GC helper time), Redis' CPU per message (the appends'
 * included: compare with `--no-archiver`),
 * the appends' latency and Redis' commands over 1 ms (a script holds Redis while it runs).
 * CPU times are in 10 ms ticks and the machine is shared: run it a few times.
 */
import { parseArgs } from 'node:util'
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { RedisHistoryStore } from '../src/stores/redis/history.js'
import { archiveDirtyKey } from '../src/stores/redis/archiver.js'
import { ArchiverProcess, ARCHIVER_PROCESS_NAME } from '../src/stores/redis/archiver-process.js'
import { PgArchive } from '../src/stores/postgres/archive.js'
import { createKeys } from '../src/stores/keys.js'
import { startRedis } from '../test/helpers/redis.js'
import { startPostgres } from '../test/helpers/postgres.js'
import { sleep } from '../test/helpers/net.js'
import { parseRedisCpuMs } from './lib/targets.js'
import { childCpuMs, readStat } from './lib/proc.js'

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '10' },
    rooms: { type: 'string', default: '1000' },
    interval: { type: 'string' },
    batch: { type: 'string' },
    'no-archiver': { type: 'boolean', default: false },
    produce: { type: 'string' }
  }
})
const rate = Number(values.rate)
const seconds = Number(values.seconds)
const rooms = Number(values.rooms)
const total = rate * seconds
const keys = createKeys('bench:archcpu:')
const silent = { error: () => {}, warn: () => {}, info: () => {} } as never

if (values.produce !== undefined) {
  // the producer (a child process): appends at `rate`, as the server's append does with DATABASE_URL
  const c = new Redis(values.produce)
  const sub = new Redis(values.produce)
  const store = new RedisHistoryStore({ client: c, subscriber: sub, keys, maxLen: 1000, archive: { dirtyKey: archiveDirtyKey(keys), backlogMaxLen: 10_000, newest: async () => '0-0' } })
  const text = 'x'.repeat(100)
  const t0 = performance.now()
  const pending: Array<Promise<unknown>> = []
  const lat: number[] = []
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now()
    if (wait > 1) await sleep(wait)
    const t = performance.now()
    pending.push(store.append({ roomId: `room${i % rooms}`, userId: `user${i % (2 * rooms)}`, text }).then(() => { lat.push(performance.now() - t) }))
  }
  await Promise.all(pending)
  lat.sort((a, b) => a - b)
  const at = (p: number): string => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))].toFixed(2)
  console.log(`append latency ms: p50 ${at(0.5)} p99 ${at(0.99)} p99.9 ${at(0.999)} max ${at(1)}`)
  await store.close()
  c.disconnect()
  sub.disconnect()
  process.exit(0)
}

/** CPU ms of this process's threads (the main one, the others by `comm/tid`) and of its archiver child process */
function threads (): { main: number, archiver: number, other: number, byName: Record<string, number> } {
  const out = { main: 0, archiver: childCpuMs([process.pid], ARCHIVER_PROCESS_NAME) ?? 0, other: 0, byName: {} as Record<string, number> }
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const { comm, cpuMs: ms } = readStat(`/proc/self/task/${tid}/stat`)
      if (Number(tid) === process.pid) out.main += ms
      else out.other += ms
      out.byName[`${comm}/${tid}`] = ms
    } catch {}
  }
  return out
}

const redis = await startRedis({ own: true })
const pgs = await startPostgres({ env: {} })
try {
  // the migrations, as the main thread runs them before the archiver starts
  const archive = new PgArchive(pgs.url, silent)
  await archive.start()
  await archive.close()
  const archiver = new ArchiverProcess({
    redis: { url: redis.url },
    prefix: keys.prefix,
    databaseUrl: pgs.url,
    maxLen: 1000,
    ...(values.interval !== undefined && { intervalMs: Number(values.interval) }),
    ...(values.batch !== undefined && { batch: Number(values.batch) }),
    log: { error: console.error, warn: () => {}, info: () => {} } as never
  })
  const archiving = !values['no-archiver']
  if (archiving) archiver.start()
  await sleep(1500)
  const info = new Redis(redis.url)
  await info.config('SET', 'slowlog-log-slower-than', '1000')
  await info.slowlog('RESET')
  const r0 = parseRedisCpuMs(await info.info('cpu'))
  const t0 = threads()
  const w0 = performance.now()
  const child = spawn(process.execPath, ['--import=tsx', fileURLToPath(import.meta.url), '--produce', redis.url, '--rate', String(rate), '--seconds', String(seconds), '--rooms', String(rooms)], { stdio: 'inherit' })
  await new Promise(resolve => child.once('exit', resolve))
  if (archiving) while (archiver.archived < total) await sleep(20)
  const t1 = threads()
  const wall = (performance.now() - w0) / 1000
  const redisUs = (parseRedisCpuMs(await info.info('cpu')) - r0) * 1000 / total
  const slow = await info.slowlog('GET', 1000) as Array<[number, number, number, string[]]>
  info.disconnect()
  const longest = slow.map(e => e[2]).sort((a, b) => b - a).slice(0, 3)
  const us = (a: number, b: number): string => ((b - a) * 1000 / total).toFixed(1)
  const others = Object.entries(t1.byName).map(([k, v]) => `${k} ${us(t0.byName[k] ?? 0, v)}`)
  console.log(`redis commands over 1 ms: ${slow.length}${longest.length > 0 ? `, longest ${longest.join(', ')} µs` : ''}`)
  console.log(`${total} messages over ${rooms} rooms at ${rate}/s, archived ${archiver.archived} in ${wall.toFixed(1)} s; µs CPU per message: ` +
    `archiver process ${us(t0.archiver, t1.archiver)}; this process: main ${us(t0.main, t1.main)}, other threads ${us(t0.other, t1.other)} (${others.join(', ')}); ` +
    `both ${us(t0.main + t0.other + t0.archiver, t1.main + t1.other + t1.archiver)}; redis (appends included) ${redisUs.toFixed(1)}`)
  await archiver.stop()
} finally {
  await redis.close()
  await pgs.close()
}
