/**
 * Real server processes (`node --import=tsx src/server.ts`) for multi-instance, crash and drain
 * tests. Each gets a free port; `ready` resolves when the instance listens.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { freePort, sleep } from './net.js'
import { baseEnv, type Env } from './app.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ServerProc {
  proc: ChildProcess
  url: string
  port: number
  /** everything the process wrote to stdout and stderr so far */
  output: () => string
  /** resolves with the exit code (or signal name) when the process ends */
  exited: Promise<number | string>
  /** sends a signal and waits for the exit */
  stop: (signal?: NodeJS.Signals) => Promise<number | string>
}

async function live (url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(500) })
    return res.status === 200
  } catch {
    return false
  }
}

/**
 * The env of a server whose wall clock is `offsetMs` off (test/helpers/clock-skew.mjs, preloaded):
 * `spawnServer(t, { ...env, ...skewedClock(5 * 60_000) })`.
 */
export function skewedClock (offsetMs: number): Env {
  return { NODE_OPTIONS: `--import=${fileURLToPath(new URL('./clock-skew.mjs', import.meta.url))}`, TEST_CLOCK_OFFSET_MS: String(offsetMs) }
}

/** `opts.port` restarts an instance on the port it had (rolling restarts behind a proxy). */
export async function spawnServer (t: Test | undefined, env: Env = {}, opts: { waitReady?: boolean, port?: number } = {}): Promise<ServerProc> {
  const port = opts.port ?? await freePort()
  const proc = spawn(process.execPath, ['--import=tsx', 'test/helpers/server-child.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...baseEnv({ LOG_LEVEL: 'info', ...env }), PORT: String(port) },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | string>(resolve => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  const url = `http://127.0.0.1:${port}`
  const server: ServerProc = {
    proc,
    url,
    port,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return await exited
    }
  }
  t?.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    await exited
  })
  if (opts.waitReady !== false) {
    // generous: a loaded 2-core machine can take many seconds to start tsx
    const end = Date.now() + 60_000
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited early (${proc.exitCode}):\n${out}`)
      if (await live(url)) break
      if (Date.now() > end) throw new Error(`server did not start within 60 s:\n${out}`)
      await sleep(25)
    }
  }
  return server
}
