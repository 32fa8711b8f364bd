/**
 * Child-process plumbing for the bench: every server, worker and redis the runner starts is
 * registered here so that it is killed on every way out (normal end, error, SIGINT, SIGTERM).
 * Also the /proc readers used for CPU and memory accounting.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** A started child with a bounded tail of its output, kept for error messages. */
export interface Child {
  name: string
  proc: ChildProcess
  pid: number
  tail: string[]
  exited: Promise<number | null>
  isRunning: () => boolean
}

const children = new Set<Child>()
const TAIL_LINES = 40

/** Kills every registered child still running; synchronous so it is safe in an 'exit' handler. */
export function killAllSync (signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const c of children) {
    if (c.isRunning()) {
      try { c.proc.kill(signal) } catch {}
    }
  }
}

let handlersInstalled = false

/** Installs the exit/signal handlers once; a second SIGINT forces the exit. */
export function installCleanupHandlers (): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', () => killAllSync('SIGKILL'))
  let stopping = false
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) process.exit(130)
    stopping = true
    process.stderr.write(`\nbench: ${sig}, stopping children\n`)
    stopAll().finally(() => process.exit(130)).catch(() => {})
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

/** Spawns and registers a child; stdout/stderr are drained into a short tail. */
export function startChild (name: string, command: string, args: string[], opts: SpawnOptions = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${command}`)
  const tail: string[] = []
  const push = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue
      tail.push(line.length > 400 ? line.slice(0, 400) + '…' : line)
      if (tail.length > TAIL_LINES) tail.shift()
    }
  }
  proc.stdout?.on('data', push)
  proc.stderr?.on('data', push)
  let running = true
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      running = false
      resolve(code)
    })
  })
  const child: Child = { name, proc, pid: proc.pid, tail, exited, isRunning: () => running }
  children.add(child)
  exited.then(() => children.delete(child), () => {})
  return child
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the child is gone. */
export async function stopChild (c: Child, graceMs = 3000): Promise<void> {
  if (!c.isRunning()) return
  try { c.proc.kill('SIGTERM') } catch {}
  const timer = setTimeout(() => { try { c.proc.kill('SIGKILL') } catch {} }, graceMs)
  await c.exited
  clearTimeout(timer)
}

/** Stops every registered child in parallel. */
export async function stopAll (): Promise<void> {
  await Promise.all([...children].map(async (c) => await stopChild(c, 2000)))
}

/** A free TCP port on 127.0.0.1 (asks the kernel, then releases it). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** Polls GET url until it answers 200; fails early if the child exits, bounded by timeoutMs. */
export async function waitReady (c: Child, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!c.isRunning()) throw new Error(`${c.name} exited before ready:\n${c.tail.join('\n')}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${c.name} not ready after ${timeoutMs} ms (${url}):\n${c.tail.join('\n')}`)
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100

/**
 * A /proc `stat` file (a process's, or a thread's under task/): its name (comm, in parentheses,
 * which may itself hold spaces or ')'), its parent's pid, and its CPU time in ms (utime + stime,
 * fields 14 and 15, 1-based). Throws when the file is gone (the process ended).
 */
export function readStat (path: string): { comm: string, ppid: number, cpuMs: number } {
  const stat = readFileSync(path, 'utf8')
  const close = stat.lastIndexOf(')')
  const rest = stat.slice(close + 2).split(' ')
  return { comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(rest[1]), cpuMs: ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK }
}

/** CPU time (user + system, all threads) of a process in ms, from /proc/<pid>/stat. */
export function cpuMs (pid: number): number {
  try {
    return readStat(`/proc/${pid}/stat`).cpuMs
  } catch {
    return Number.NaN
  }
}

/**
 * Sum of cpuMs over processes that come and go (PostgreSQL's backends): one gone counts 0, so a
 * difference of two sums misses the CPU of a process that exited in between.
 */
export function cpuMsLive (pids: number[]): number {
  return pids.reduce((s, p) => { const c = cpuMs(p); return Number.isFinite(c) ? s + c : s }, 0)
}

/**
 * CPU time in ms (user + system, all threads) of the child processes of `parents` whose title
 * (comm) is `name`, from /proc: e.g. Switchboard's archiver process (`sb-archiver`, a child of
 * each instance with DATABASE_URL), so a service's CPU can be split into the archiver's and the
 * sending path's. null when there is no such child; a child that ended in between is missed
 * (as in cpuMsLive).
 */
export function childCpuMs (parents: number[], name: string): number | null {
  const want = new Set(parents)
  let sum: number | null = null
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const st = readStat(`/proc/${d}/stat`)
      if (st.comm === name && want.has(st.ppid)) sum = (sum ?? 0) + st.cpuMs
    } catch {}
  }
  return sum
}

/**
 * CPU time in ms (user + system) of the threads of these processes whose OS name (comm) is
 * `name`, from /proc/<pid>/task/<tid>/stat (a server's CPU split into one named thread's and the
 * rest's; the archiver was such a thread before it got a process of its own: childCpuMs). null when there is no such
 * thread; a thread that ended in between is missed (as in cpuMsLive).
 */
export function threadCpuMs (pids: number[], name: string): number | null {
  let sum: number | null = null
  for (const pid of pids) {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of tids) {
      try {
        if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== name) continue
        sum = (sum ?? 0) + readStat(`/proc/${pid}/task/${tid}/stat`).cpuMs
      } catch {}
    }
  }
  return sum
}

/** CPU time in ms of the processes' main threads (the event loop: /proc/<pid>/task/<pid>/stat). */
export function mainThreadCpuMs (pids: number[]): number {
  let sum = 0
  for (const pid of pids) {
    try {
      sum += readStat(`/proc/${pid}/task/${pid}/stat`).cpuMs
    } catch {
      return Number.NaN
    }
  }
  return sum
}

/** Sum of cpuMs over several processes. */
export function cpuMsSum (pids: number[]): number {
  return pids.reduce((s, p) => s + cpuMs(p), 0)
}

/** Busy CPU time of the whole machine in ms (all CPUs, everything but idle and iowait), from /proc/stat. */
export function machineBusyMs (): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal (guest is already in user)
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7]
    return (busy * 1000) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

/** Resident set size in bytes from /proc/<pid>/status (VmRSS). */
export function rssBytes (pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? Number.NaN : Number(m[1]) * 1024
  } catch {
    return Number.NaN
  }
}
