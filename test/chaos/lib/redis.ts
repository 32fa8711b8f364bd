/**
 * The chaos suite's own Redis: a `redis-server` on a free port that a scenario can SIGKILL,
 * restart, SIGSTOP/SIGCONT — with or without an append-only file (`aof: true` writes every
 * command with `appendfsync always`, so a restart loses nothing that was acknowledged).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from '../../helpers/net.js'
import { waitForPing } from '../../helpers/redis.js'

export interface ChaosRedis {
  url: string
  port: number
  pid: () => number | undefined
  /** SIGKILL (a crash: without AOF every key is gone after `start`) */
  kill: () => Promise<void>
  start: () => Promise<void>
  signal: (sig: NodeJS.Signals) => void
  /** a short-lived command connection (INFO, DBSIZE…) */
  command: <T>(fn: (r: Redis) => Promise<T>) => Promise<T>
  close: () => Promise<void>
}

export async function startChaosRedis (opts: { aof?: boolean } = {}): Promise<ChaosRedis> {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const dir = mkdtempSync(join(tmpdir(), 'sb-chaos-redis-'))
  let proc: ChildProcess | undefined
  const persistence = opts.aof === true
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--save', '']
    : ['--appendonly', 'no', '--save', '']
  const start = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...persistence, '--loglevel', 'warning'], { stdio: 'ignore' })
    await waitForPing(url, 10_000)
  }
  const kill = async (): Promise<void> => {
    const p = proc
    proc = undefined
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGCONT')
    p.kill('SIGKILL')
    await exited
  }
  const command = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    const c = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000 })
    c.on('error', () => {})
    try { return await fn(c) } finally { c.disconnect() }
  }
  await start()
  return {
    url,
    port,
    pid: () => proc?.pid,
    kill,
    start,
    signal: (sig) => { proc?.kill(sig) },
    command,
    close: async () => { await kill(); rmSync(dir, { recursive: true, force: true }) }
  }
}
