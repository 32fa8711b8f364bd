/**
 * Starting and stopping what the bench measures: Switchboard (one instance, or several on a
 * private redis-server) and the baseline Socket.IO server. Both get the same preload probe
 * and --expose-gc, so memory after GC is measured the same way in each.
 */
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { freePort, startChild, stopChild, waitReady, type Child } from './proc.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PROBE = pathToFileURL(fileURLToPath(new URL('../probe.ts', import.meta.url))).href
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
function switchboardEnv (port: number, secret: string, redisUrl: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET: secret,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_HTTP_MAX: '0',
    RATE_LIMIT_SEND_BURST: '0',
    RATE_LIMIT_SEND_PER_SECOND: '0',
    RATE_LIMIT_EVENTS_PER_MINUTE: '0',
    RATE_LIMIT_CONNECTIONS_PER_10S: '0'
  }
  if (redisUrl !== null) env.REDIS_URL = redisUrl
  return env
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
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map(async (s) => await stopChild(s, 5000)))
    if (redis !== null) await stopChild(redis.child, 2000)
  }
  try {
    if (opts.redis) redis = await startRedis()
    const urls: string[] = []
    for (let i = 0; i < opts.instances; i++) {
      const port = await freePort()
      const entry = opts.kind === 'switchboard' ? SWITCHBOARD : BASELINE
      const env = opts.kind === 'switchboard'
        ? switchboardEnv(port, opts.secret, redis?.url ?? null)
        : { ...baseEnv(), PORT: String(port), HOST: '127.0.0.1' }
      const child = startChild(`${opts.kind}-${i}`, process.execPath,
        ['--expose-gc', '--import=tsx', `--import=${PROBE}`, entry],
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
      mem: async (i) => await probeMem(servers[i]),
      loop: async () => await Promise.all(servers.map(probeLoop)),
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}
