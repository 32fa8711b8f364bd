/**
 * Test Redis: the one at REDIS_URL when set, otherwise a `redis-server` this helper starts on a
 * free port (no persistence) and stops afterwards. Tests that stop Redis on purpose always get
 * their own server (`own: true`). Each test file uses its own key prefix, so files can share
 * one Redis and run in parallel.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { freePort, sleep } from './net.js'

export interface TestRedis {
  url: string
  port: number
  /** stops the server (only for a server this helper started) */
  stop: () => Promise<void>
  /** starts it again on the same port (only for a server this helper started) */
  start: () => Promise<void>
  close: () => Promise<void>
  /** sends a signal to the server process (SIGSTOP / SIGCONT to make it hang), owned servers only */
  signal: (sig: NodeJS.Signals) => void
  owned: boolean
}

export function uniquePrefix (name: string): string {
  return `t:${name.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 24)}:${randomBytes(3).toString('hex')}:`
}

/** Resolves once Redis at `url` answers PING (a fresh connection per try); throws after `timeoutMs`. */
export async function waitForPing (url: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
    c.on('error', () => {})
    try {
      await c.connect()
      await c.ping()
      c.disconnect()
      return
    } catch {
      c.disconnect()
      await sleep(20)
    }
  }
  throw new Error(`redis at ${url} did not answer within ${timeoutMs} ms`)
}

export async function startRedis (opts: { own?: boolean, env?: Record<string, string | undefined> } = {}): Promise<TestRedis> {
  const env = opts.env ?? process.env
  const external = env.REDIS_URL
  if (external !== undefined && external !== '' && opts.own !== true) {
    await waitForPing(external)
    const port = Number(new URL(external).port || 6379)
    const refuse = async (): Promise<void> => { throw new Error('cannot stop an external Redis (REDIS_URL)') }
    return { url: external, port, stop: refuse, start: refuse, close: async () => {}, signal: () => { throw new Error('cannot signal an external Redis') }, owned: false }
  }
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let proc: ChildProcess | undefined
  const start = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' })
    await waitForPing(url)
  }
  const stop = async (): Promise<void> => {
    const p = proc
    proc = undefined
    if (p === undefined || p.exitCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGKILL')
    await exited
  }
  await start()
  const signal = (sig: NodeJS.Signals): void => { proc?.kill(sig) }
  const close = async (): Promise<void> => { signal('SIGCONT'); await stop() }
  return { url, port, start, stop, close, signal, owned: true }
}

/** A plain ioredis connection for a store under test, closed when the test ends. */
export function redisClient (t: Test, url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 1 })
  t.teardown(() => { c.disconnect() })
  return c
}
