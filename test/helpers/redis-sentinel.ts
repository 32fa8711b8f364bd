/**
 * A real Redis Sentinel setup for tests: one primary, one replica and three sentinels (quorum 2)
 * on free loopback ports, all Debian's `redis-server` (`--sentinel` for the sentinels). Short
 * `down-after-milliseconds` and `failover-timeout` make a killed primary's replica take over
 * within a few seconds. A killed node restarted on its port comes back as a replica (the
 * sentinels reconfigure it). Everything is stopped on `close()`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, until } from './net.js'

const run = promisify(execFile)

export const SENTINEL_NAME = 'sbmaster'
/** ms a primary may be unreachable before the sentinels call it down */
export const DOWN_AFTER_MS = 1000

export interface TestSentinel {
  /** `host:port` list for REDIS_SENTINELS */
  sentinelsEnv: string
  name: string
  /** the data nodes' ports (the primary first at start) */
  ports: number[]
  /** the port of the current primary, as the sentinels report it */
  primary: () => Promise<number>
  kill: (port: number) => Promise<void>
  /** sends a signal to a data node (SIGSTOP / SIGCONT: a node that hangs) */
  signal: (port: number, sig: NodeJS.Signals) => void
  /** starts a killed node again; with `replicaOf` as that primary's replica at once (else the sentinels turn it into one, after a while) */
  restart: (port: number, replicaOf?: number) => Promise<void>
  /** resolves when the primary is `port`'s replacement and has a replica in sync (if `withReplica`) */
  settled: (opts?: { withReplica?: boolean }) => Promise<void>
  close: () => Promise<void>
}

async function cli (port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 })
  return stdout
}

async function pingable (port: number): Promise<void> {
  await until(async () => {
    try { return (await cli(port, 'PING')).trim() === 'PONG' } catch { return false }
  }, 5000, 20)
}

/** Starts the setup; a few seconds (the sentinels must discover each other and the replica). */
export async function startSentinel (): Promise<TestSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-sentinel-'))
  const ports: number[] = []
  const sentinelPorts: number[] = []
  while (ports.length < 2) { const p = await freePort(); if (!ports.includes(p)) ports.push(p) }
  while (sentinelPorts.length < 3) { const p = await freePort(); if (!ports.includes(p) && !sentinelPorts.includes(p)) sentinelPorts.push(p) }
  const procs = new Map<number, ChildProcess>()

  const startData = async (port: number, replicaOf?: number, priority = 100): Promise<void> => {
    // diskless sync without the default 5 s wait for more replicas: a restarted node is in sync sooner
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
      '--repl-diskless-sync-delay', '0', '--replica-priority', String(priority)]
    if (replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(replicaOf))
    procs.set(port, spawn('redis-server', args, { stdio: 'ignore' }))
    await pingable(port)
  }
  const kill = async (port: number): Promise<void> => {
    const p = procs.get(port)
    procs.delete(port)
    if (p === undefined || p.exitCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGKILL')
    await exited
  }
  const primary = async (): Promise<number> => {
    for (const s of sentinelPorts) {
      try {
        const out = (await cli(s, 'SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME)).trim().split('\n')
        if (out.length === 2) return Number(out[1])
      } catch {}
    }
    throw new Error('no sentinel answers')
  }

  const api: TestSentinel = {
    sentinelsEnv: sentinelPorts.map(p => `127.0.0.1:${p}`).join(','),
    name: SENTINEL_NAME,
    ports,
    primary,
    kill,
    signal: (port, sig) => { procs.get(port)?.kill(sig) },
    restart: async (port, replicaOf) => {
      // a node restarted without persistence is empty: it must not be promoted before it has
      // synced (a second failover to it would wipe the data), so its priority is 0 until
      // `settled` sees it in sync — what an orchestrator restarting Redis must do as well
      await startData(port, replicaOf, 0)
    },
    settled: async (opts = {}) => {
      await until(async () => {
        try {
          const p = await primary()
          if (!procs.has(p)) return false
          const info = await cli(p, 'INFO', 'replication')
          if (!info.includes('role:master')) return false
          if (opts.withReplica !== true) return true
          const online = [...info.matchAll(/slave\d+:ip=[^,]+,port=(\d+),state=online/g)].map(m => Number(m[1]))
          if (online.length === 0) return false
          // in sync: promotable again
          await Promise.all(online.map(async r => await cli(r, 'CONFIG', 'SET', 'replica-priority', '100')))
          return true
        } catch {
          return false
        }
      }, 30_000, 100)
    },
    close: async () => {
      await Promise.all([...procs.keys()].map(kill))
      await rm(dir, { recursive: true, force: true })
    }
  }

  try {
    await startData(ports[0])
    await startData(ports[1], ports[0])
    await Promise.all(sentinelPorts.map(async (port, i) => {
      const conf = join(dir, `sentinel-${i}.conf`)
      // sentinels rewrite their own file: one each, writable
      await writeFile(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${ports[0]} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} ${DOWN_AFTER_MS}`,
        // also the pause before the same master may fail over again (twice this): the tests fail over twice
        `sentinel failover-timeout ${SENTINEL_NAME} 2000`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`
      ].join('\n') + '\n')
      procs.set(port, spawn('redis-server', [conf, '--sentinel', '--loglevel', 'warning'], { stdio: 'ignore' }))
      await pingable(port)
    }))
    // a failover needs the sentinels to know the replica and each other (hello messages, ~2 s)
    await until(async () => {
      const views = await Promise.all(sentinelPorts.map(async s => {
        const replicas = await cli(s, 'SENTINEL', 'replicas', SENTINEL_NAME)
        const others = await cli(s, 'SENTINEL', 'sentinels', SENTINEL_NAME)
        return replicas.includes(String(ports[1])) && sentinelPorts.filter(o => o !== s).every(o => others.includes(String(o)))
      }))
      return views.every(Boolean)
    }, 30_000, 100)
    await api.settled({ withReplica: true })
  } catch (err) {
    await api.close()
    throw err
  }
  return api
}
