/**
 * What a scenario runs against: its own Redis (optionally behind a fault proxy), N real server
 * processes (`src/server.ts`, as the tests spawn them), and a round-robin balancer in front.
 * Also the outside views a scenario measures with: full room history over REST, presence,
 * readiness, and each process's RSS and open file descriptors from /proc.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { spawnServer, type ServerProc } from '../../helpers/proc.js'
import { uniquePrefix } from '../../helpers/redis.js'
import { token } from '../../helpers/tokens.js'
import { startChaosRedis, type ChaosRedis } from './redis.js'
import { startProxy, type Proxy } from './proxy.js'
import type { Msg } from './ledger.js'

export const LIMITS_OFF = {
  RATE_LIMIT_HTTP_MAX: '0',
  RATE_LIMIT_SEND_BURST: '0',
  RATE_LIMIT_SEND_PER_SECOND: '0',
  RATE_LIMIT_EVENTS_PER_MINUTE: '0',
  RATE_LIMIT_CONNECTIONS_PER_10S: '0'
}

/** every process the suite started, killed on the way out whatever happens */
const started = new Set<ServerProc>()
export function killAll (): void {
  for (const s of started) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL')
}

export interface ClusterOptions {
  instances: number
  aof?: boolean
  /** put a fault proxy between the instances and Redis */
  redisProxy?: boolean
  env?: Record<string, string>
  /** per-instance extra environment (index → env) */
  envOf?: (i: number) => Record<string, string>
}

export class Cluster {
  servers: ServerProc[] = []
  redis!: ChaosRedis
  redisProxy?: Proxy
  balancer!: Proxy
  readonly prefix = uniquePrefix('chaos')
  #env: Record<string, string> = {}
  #opts!: ClusterOptions

  static async start (opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster()
    c.#opts = opts
    c.redis = await startChaosRedis({ aof: opts.aof })
    let redisUrl = c.redis.url
    if (opts.redisProxy === true) {
      c.redisProxy = await startProxy([{ port: c.redis.port }])
      redisUrl = `redis://127.0.0.1:${c.redisProxy.port}`
    }
    c.#env = { ...LIMITS_OFF, LOG_LEVEL: 'warn', REDIS_URL: redisUrl, REDIS_KEY_PREFIX: c.prefix, HISTORY_MAX_MESSAGES: '1000000', ...opts.env }
    c.servers = await Promise.all(Array.from({ length: opts.instances }, async (_, i) => await c.spawn(i)))
    c.balancer = await startProxy(c.servers.map(s => ({ port: s.port, url: s.url })), { probe: true })
    return c
  }

  async spawn (i: number, port?: number): Promise<ServerProc> {
    const s = await spawnServer(undefined, { ...this.#env, ...this.#opts.envOf?.(i) }, { port })
    started.add(s)
    return s
  }

  /** Stops instance `i` with `signal` and starts it again on its port (a deploy step). */
  async restart (i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const old = this.servers[i]
    await old.stop(signal)
    started.delete(old)
    this.servers[i] = await this.spawn(i, old.port)
  }

  /** A service token (may use every room). */
  readonly service = token({ sub: 'chaos-service', role: 'service' }, { ttlS: 6 * 3600 })

  /** Every message of a room, oldest first, paged over REST from any live instance. */
  async history (roomId: string): Promise<Msg[]> {
    const out: Msg[] = []
    let after = '0-0'
    for (;;) {
      const url = this.liveUrl()
      const res = await fetch(`${url}/v1/rooms/${roomId}/messages?limit=100&after=${after}`, { headers: { authorization: `Bearer ${this.service}` }, signal: AbortSignal.timeout(10_000) })
      if (res.status !== 200) throw new Error(`history of ${roomId}: ${res.status} ${await res.text()}`)
      const body = await res.json() as { messages: Msg[], hasMore: boolean }
      out.push(...body.messages)
      if (!body.hasMore || body.messages.length === 0) return out
      after = body.messages[body.messages.length - 1].id
    }
  }

  async histories (rooms: string[]): Promise<Map<string, Msg[]>> {
    const m = new Map<string, Msg[]>()
    for (const r of rooms) m.set(r, await this.history(r))
    return m
  }

  liveUrl (): string {
    const s = this.servers.find(s => s.proc.exitCode === null && s.proc.signalCode === null)
    if (s === undefined) throw new Error('no live instance')
    return s.url
  }

  async presence (userIds: string[]): Promise<Array<{ userId: string, status: string, connections: number }>> {
    const res = await fetch(`${this.liveUrl()}/v1/presence/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.service}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userIds }),
      signal: AbortSignal.timeout(5000)
    })
    if (res.status !== 200) throw new Error(`presence query: ${res.status}`)
    return (await res.json() as { users: Array<{ userId: string, status: string, connections: number }> }).users
  }

  async close (): Promise<void> {
    await this.balancer?.close()
    await Promise.all(this.servers.map(async s => { await s.stop('SIGKILL'); started.delete(s) }))
    await this.redisProxy?.close()
    await this.redis.close()
  }
}

/** RSS (bytes) and open file descriptors of a process, from /proc (Linux). */
export function procStats (pid: number | undefined): { rss: number, fds: number } | undefined {
  if (pid === undefined) return undefined
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return { rss: kb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length }
  } catch {
    return undefined
  }
}

/** Polls `/health/ready` of each url every `stepMs`; `stop()` returns [t, url index, status]. */
export function watchReadiness (urls: string[], stepMs = 100): { stop: () => Array<[number, number, number]> } {
  const seen: Array<[number, number, number]> = []
  const timer = setInterval(() => {
    urls.forEach((u, i) => {
      fetch(`${u}/health/ready`, { signal: AbortSignal.timeout(1000) })
        .then(async r => { seen.push([Date.now(), i, r.status]); await r.body?.cancel() })
        .catch(() => seen.push([Date.now(), i, 0]))
    })
  }, stepMs)
  return { stop: () => { clearInterval(timer); return seen } }
}
