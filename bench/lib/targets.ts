/**
 * Starting and stopping what the bench measures: Switchboard (one instance, or several on a
 * private redis-server; optionally with a private PostgreSQL archive) and the baseline Socket.IO
 * server (alone, or on `@socket.io/redis-adapter` over a private redis-server). Both get the
 * same preload probe and --expose-gc, so memory after GC is measured the same way in each.
 */
import { readdirSync, existsSync } from 'node:fs'
import { connect } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres.js'
import { freePort, readStat, startChild, stopChild, waitReady, type Child } from './proc.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PROBE = pathToFileURL(fileURLToPath(new URL('../probe.ts', import.meta.url))).href
const METRICS_OFF = pathToFileURL(fileURLToPath(new URL('../metrics-off.ts', import.meta.url))).href
const BASELINE = fileURLToPath(new URL('../baseline-server.ts', import.meta.url))
export const SWITCHBOARD = `${ROOT}src/server.ts`

export type TargetKind = 'switchboard' | 'baseline'

/** What the probe answers (process.memoryUsage() after a full GC). */
export interface MemSample {
  gc: boolean
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
}

/** Event-loop delay of a server since the previous sample, in ms. */
export interface LoopSample {
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** A running system under test: one or more server processes, maybe a redis. */
export interface Target {
  kind: TargetKind
  label: string
  urls: string[]
  serverPids: number[]
  redisPid: number | null
  /** CPU ms Redis reports for itself (INFO cpu: used_cpu_sys + used_cpu_user); NaN without redis */
  redisCpuMs: () => Promise<number>
  /** the PostgreSQL processes (postmaster and its children) of an archive target, else [] */
  pgPids: () => Promise<number[]>
  /** GET /metrics of server i (Switchboard only) */
  metricsText: (i: number) => Promise<string>
  /** memory of server i after GC, through the probe */
  mem: (i: number) => Promise<MemSample>
  /** event-loop delay of every server since the previous call (starts a new window) */
  loop: () => Promise<LoopSample[]>
  stop: () => Promise<void>
}

export interface TargetOptions {
  kind: TargetKind
  /** server processes; more than one needs redis */
  instances: number
  redis: boolean
  secret: string
  /** Switchboard with NODE_ENV=production (the production setup of issue 11) */
  production?: boolean
  /** Switchboard with DATABASE_URL on a private PostgreSQL (issue 16's archive); needs redis */
  db?: boolean
  /** Switchboard with the per-event metric recording switched off by bench/metrics-off.ts (issue 12) */
  metricsOff?: boolean
}

/** Only what a Node server needs from the outer environment, so nothing leaks in (REDIS_URL…). */
function baseEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const v = process.env[k]
    if (v !== undefined) env[k] = v
  }
  return env
}

/** Switchboard's environment for a benchmark: limits off, quiet logs (see bench/README.md). */
function switchboardEnv (port: number, secret: string, redisUrl: string | null, production: boolean, dbUrl: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET: secret,
    NODE_ENV: production ? 'production' : 'development',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_HTTP_MAX: '0',
    RATE_LIMIT_SEND_BURST: '0',
    RATE_LIMIT_SEND_PER_SECOND: '0',
    RATE_LIMIT_EVENTS_PER_MINUTE: '0',
    RATE_LIMIT_CONNECTIONS_PER_10S: '0'
  }
  if (redisUrl !== null) env.REDIS_URL = redisUrl
  if (dbUrl !== null) env.DATABASE_URL = dbUrl
  return env
}

/** used_cpu_sys + used_cpu_user of `INFO cpu`, in ms. */
export function parseRedisCpuMs (info: string): number {
  const field = (k: string): number => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN)
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000
}

/** The PostgreSQL server's processes: the postmaster (parent of a backend) and all its children. */
export async function postgresPids (url: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    const ppidOf = (pid: number): number => {
      try {
        return readStat(`/proc/${pid}/stat`).ppid
      } catch {
        return -1
      }
    }
    const own = rows[0].pid
    const postmaster = ppidOf(own)
    if (postmaster <= 1) return []
    // (not this query's own backend, which ends with it)
    const kids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => p !== own && ppidOf(p) === postmaster)
    return [postmaster, ...kids]
  } finally {
    await c.end()
  }
}

let probeSeq = 0

/** One request to a server's probe (bench/probe.ts) over IPC, at most 10 s. */
async function askProbe (c: Child, type: 'mem' | 'loop'): Promise<Record<string, unknown>> {
  const id = ++probeSeq
  return await new Promise((resolve, reject) => {
    const onMsg = (raw: unknown): void => {
      const m = raw as Record<string, unknown> | null
      if (m?.type !== type || m.id !== id) return
      clearTimeout(timer)
      c.proc.off('message', onMsg)
      resolve(m)
    }
    const timer = setTimeout(() => {
      c.proc.off('message', onMsg)
      reject(new Error(`${c.name}: no ${type} answer`))
    }, 10_000)
    c.proc.on('message', onMsg)
    if (!c.proc.connected) {
      clearTimeout(timer)
      reject(new Error(`${c.name}: not running`))
      return
    }
    c.proc.send({ type, id }, (err) => {
      if (err === null) return
      clearTimeout(timer)
      c.proc.off('message', onMsg)
      reject(new Error(`${c.name}: ${err.message}`))
    })
  })
}

async function probeMem (c: Child): Promise<MemSample> {
  const m = await askProbe(c, 'mem')
  const n = (k: string): number => Number(m[k])
  return { gc: m.gc === true, rss: n('rss'), heapUsed: n('heapUsed'), heapTotal: n('heapTotal'), external: n('external'), arrayBuffers: n('arrayBuffers') }
}

async function probeLoop (c: Child): Promise<LoopSample> {
  const m = await askProbe(c, 'loop')
  return { p50Ms: Number(m.p50Ms), p99Ms: Number(m.p99Ms), maxMs: Number(m.maxMs) }
}

/** Answers when redis replies +PONG, at most timeoutMs. */
async function waitRedis (c: Child, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!c.isRunning()) throw new Error(`redis exited:\n${c.tail.join('\n')}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.setTimeout(500, () => { s.destroy(); resolve(false) })
      s.once('error', () => resolve(false))
      s.once('connect', () => s.write('PING\r\n'))
      s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')) })
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`redis not ready after ${timeoutMs} ms`)
}

/** A private redis-server on a free port, no persistence; killed with the runner (pdeathsig). */
export async function startRedis (): Promise<{ child: Child, url: string }> {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning']
  const child = existsSync('/usr/bin/setpriv')
    ? startChild('redis', '/usr/bin/setpriv', ['--pdeathsig', 'KILL', 'redis-server', ...args])
    : startChild('redis', 'redis-server', args)
  await waitRedis(child, port)
  return { child, url: `redis://127.0.0.1:${port}` }
}

export function switchboardAvailable (): boolean {
  return existsSync(SWITCHBOARD)
}

/** Starts a target and waits until every instance answers GET /health/ready with 200. */
export async function startTarget (opts: TargetOptions): Promise<Target> {
  const servers: Child[] = []
  let redis: { child: Child, url: string } | null = null
  let redisClient: Redis | null = null
  let postgres: TestPostgres | null = null
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map(async (s) => await stopChild(s, 5000)))
    redisClient?.disconnect()
    if (redis !== null) await stopChild(redis.child, 2000)
    if (postgres !== null) await postgres.close()
  }
  try {
    if (opts.redis || opts.db === true) redis = await startRedis()
    if (redis !== null) {
      redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1 })
      // a failed INFO reads as NaN (no figure); the event itself must not go unhandled
      redisClient.on('error', () => {})
    }
    // a private cluster on a free loopback port (as an unprivileged user when root), never 5432
    if (opts.db === true) postgres = await startPostgres({ own: true, env: {} })
    const urls: string[] = []
    for (let i = 0; i < opts.instances; i++) {
      const port = await freePort()
      const entry = opts.kind === 'switchboard' ? SWITCHBOARD : BASELINE
      const env = opts.kind === 'switchboard'
        ? switchboardEnv(port, opts.secret, redis?.url ?? null, opts.production === true, postgres?.url ?? null)
        : { ...baseEnv(), PORT: String(port), HOST: '127.0.0.1', ...(redis !== null && { REDIS_URL: redis.url }) }
      const preloads = [`--import=${PROBE}`, ...(opts.metricsOff === true ? [`--import=${METRICS_OFF}`] : [])]
      const child = startChild(`${opts.kind}-${i}`, process.execPath,
        ['--expose-gc', ...serverNodeArgs(), '--import=tsx', ...preloads, entry],
        { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
      child.proc.on('error', () => {}) // IPC errors surface through probeMem
      servers.push(child)
      urls.push(`http://127.0.0.1:${port}`)
    }
    await Promise.all(servers.map(async (s, i) => await waitReady(s, `${urls[i]}/health/ready`)))
    const label = opts.instances > 1
      ? `${opts.kind} ×${opts.instances}${redis !== null ? ' + redis' : ''}`
      : `${opts.kind}${redis !== null ? ' + redis' : ''}`
    return {
      kind: opts.kind,
      label,
      urls,
      serverPids: servers.map((s) => s.pid),
      redisPid: redis?.child.pid ?? null,
      redisCpuMs: async () => {
        if (redisClient === null) return Number.NaN
        try {
          return parseRedisCpuMs(await redisClient.info('cpu'))
        } catch {
          return Number.NaN
        }
      },
      pgPids: async () => postgres === null ? [] : await postgresPids(postgres.url),
      metricsText: async (i) => {
        const res = await fetch(`${urls[i]}/metrics`, { signal: AbortSignal.timeout(5000) })
        return await res.text()
      },
      mem: async (i) => await probeMem(servers[i]),
      loop: async () => await Promise.all(servers.map(probeLoop)),
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * Extra node flags for every server the bench starts, from `BENCH_SERVER_NODE_ARGS` (space
 * separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the servers under load.
 */
function serverNodeArgs (): string[] {
  return (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
}
