/**
 * The runner's side of the load workers: forks them, spreads clients over them, and turns
 * their IPC answers into promises with timeouts (a stuck worker fails the step, it does not
 * hang the bench).
 */
import { fileURLToPath } from 'node:url'
import { decodeFromCompressedBase64, build, type Histogram } from 'hdr-histogram-js'
import { setPriority } from 'node:os'
import { startChild, stopChild, type Child } from './proc.js'
import {
  HIST_OPTS,
  type ClientSpec, type ConnectCmd, type ConnectedMsg, type DisconnectCmd, type DisconnectedMsg,
  type PublisherSpec, type RunCmd, type RunResultMsg, type WorkerMsg
} from './protocol.js'

const WORKER = fileURLToPath(new URL('../worker.ts', import.meta.url))

/** A command as the caller writes it; the pool adds the reqId. */
type CmdBody = Omit<ConnectCmd, 'reqId'> | Omit<RunCmd, 'reqId'> | Omit<DisconnectCmd, 'reqId'>

interface Pending {
  resolve: (m: WorkerMsg) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

class Worker {
  readonly child: Child
  private readonly pending = new Map<number, Pending>()
  private seq = 0

  constructor (index: number) {
    this.child = startChild(`worker-${index}`, process.execPath, ['--import=tsx', WORKER], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    // BENCH_CLIENT_NICE=N (a diagnostic, bench/README.md): the load workers at nice N, so the servers and
    // their Redis are served first, as when the clients are on other machines
    if (process.env.BENCH_CLIENT_NICE !== undefined && this.child.proc.pid !== undefined) setPriority(this.child.proc.pid, Number(process.env.BENCH_CLIENT_NICE))
    // a send on a channel that just closed is reported through send's callback instead
    this.child.proc.on('error', () => {})
    this.child.proc.on('message', (raw: unknown) => {
      const msg = raw as WorkerMsg
      const p = this.pending.get(msg.reqId)
      if (p === undefined) return
      this.pending.delete(msg.reqId)
      clearTimeout(p.timer)
      if (msg.type === 'error') p.reject(new Error(`${this.child.name}: ${msg.message}`))
      else p.resolve(msg)
    })
    this.child.exited.then((code) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer)
        p.reject(new Error(`${this.child.name} exited (${String(code)}):\n${this.child.tail.join('\n')}`))
      }
      this.pending.clear()
    }, () => {})
  }

  /** Sends a command and waits for the answer with the same reqId, at most timeoutMs. */
  async request<T extends WorkerMsg>(cmd: CmdBody, timeoutMs: number): Promise<T> {
    const reqId = ++this.seq
    return await new Promise<T>((resolve, reject) => {
      if (!this.child.isRunning() || !this.child.proc.connected) {
        reject(new Error(`${this.child.name} is not running`))
        return
      }
      const timer = setTimeout(() => {
        this.pending.delete(reqId)
        reject(new Error(`${this.child.name}: no answer to ${cmd.type} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(reqId, { resolve: (m) => resolve(m as T), reject, timer })
      this.child.proc.send({ ...cmd, reqId }, (err) => {
        if (err === null) return
        clearTimeout(timer)
        this.pending.delete(reqId)
        reject(new Error(`${this.child.name}: ${err.message}`))
      })
    })
  }
}

/** Where a client lives: worker index and its index in that worker's client list. */
export interface ClientRef {
  worker: number
  local: number
}

export interface ConnectSummary {
  ok: number
  failed: number
  errors: string[]
  /** failures by reason, summed over workers */
  errorCounts: Record<string, number>
  ms: number
}

/** Publishers by global client id, with their room and rate. */
export interface GlobalPublisher {
  client: ClientRef
  roomId: string
  rate: number
}

export interface RunSummary {
  sent: number
  acked: number
  ackErrors: number
  ackErrorCodes: Record<string, number>
  received: number
  receivedInWindow: number
  stale: number
  disconnects: number
  disconnectReasons: Record<string, number>
  latency: Histogram
  ackLatency: Histogram
  lastSendAt: number
  lastRecvAt: number
  /** wall ms at which the send window started */
  startAt: number
}

export class WorkerPool {
  private readonly workers: Worker[]
  /** number of clients each worker holds */
  private readonly counts: number[]

  constructor (n: number) {
    this.workers = Array.from({ length: n }, (_, i) => new Worker(i))
    this.counts = this.workers.map(() => 0)
  }

  /** number of worker processes */
  get size (): number {
    return this.workers.length
  }

  get pids (): number[] {
    return this.workers.map((w) => w.child.pid)
  }

  /**
   * Opens clients round-robin over the workers (client i → worker i mod n), adding to the
   * clients already open. Returns where each client went.
   */
  async connect (urls: string[], secret: string, specs: ClientSpec[], concurrency: number, timeoutMs: number): Promise<{ refs: ClientRef[], summary: ConnectSummary }> {
    const n = this.workers.length
    const perWorker: ClientSpec[][] = this.workers.map(() => [])
    const refs: ClientRef[] = specs.map((spec, i) => {
      const w = i % n
      perWorker[w].push(spec)
      return { worker: w, local: this.counts[w] + perWorker[w].length - 1 }
    })
    const budget = timeoutMs * 4 + Math.ceil(specs.length / n) * 20 + 10_000
    const answers = await Promise.all(this.workers.map(async (w, i) => {
      if (perWorker[i].length === 0) return { type: 'connected', reqId: 0, ok: 0, failed: 0, errors: [], errorCounts: {}, ms: 0 } satisfies ConnectedMsg
      return await w.request<ConnectedMsg>({ type: 'connect', urls, secret, clients: perWorker[i], concurrency, timeoutMs }, budget)
    }))
    // a worker keeps a (null) slot for a client that failed, so the refs stay valid
    perWorker.forEach((list, i) => { this.counts[i] += list.length })
    const summary: ConnectSummary = {
      ok: answers.reduce((s, a) => s + a.ok, 0),
      failed: answers.reduce((s, a) => s + a.failed, 0),
      errors: answers.flatMap((a) => a.errors).slice(0, 5),
      errorCounts: answers.reduce<Record<string, number>>((acc, a) => {
        for (const [k, v] of Object.entries(a.errorCounts ?? {})) acc[k] = (acc[k] ?? 0) + v
        return acc
      }, {}),
      ms: Math.max(...answers.map((a) => a.ms))
    }
    return { refs, summary }
  }

  /** One synchronized send window on every worker; merges counters and histograms. */
  async run (runId: string, publishers: GlobalPublisher[], durationMs: number, drainMs: number, textBytes: number): Promise<RunSummary> {
    const perWorker: PublisherSpec[][] = this.workers.map(() => [])
    for (const p of publishers) perWorker[p.client.worker].push({ client: p.client.local, roomId: p.roomId, rate: p.rate })
    // a common start a little ahead, so every worker begins sending at the same instant
    const startAt = performance.timeOrigin + performance.now() + 300
    const answers = await Promise.all(this.workers.map(async (w, i) =>
      await w.request<RunResultMsg>({ type: 'run', runId, startAt, durationMs, drainMs, publishers: perWorker[i], textBytes }, durationMs + drainMs + 15_000)
    ))
    const latency = build(HIST_OPTS)
    const ackLatency = build(HIST_OPTS)
    const sum: RunSummary = {
      sent: 0,
      acked: 0,
      ackErrors: 0,
      ackErrorCodes: {},
      received: 0,
      receivedInWindow: 0,
      stale: 0,
      disconnects: 0,
      disconnectReasons: {},
      latency,
      ackLatency,
      lastSendAt: 0,
      lastRecvAt: 0,
      startAt
    }
    for (const a of answers) {
      sum.sent += a.sent
      sum.acked += a.acked
      sum.ackErrors += a.ackErrors
      sum.received += a.received
      sum.receivedInWindow += a.receivedInWindow
      sum.stale += a.stale
      sum.disconnects += a.disconnects
      sum.lastSendAt = Math.max(sum.lastSendAt, a.lastSendAt)
      sum.lastRecvAt = Math.max(sum.lastRecvAt, a.lastRecvAt)
      for (const [k, v] of Object.entries(a.ackErrorCodes)) sum.ackErrorCodes[k] = (sum.ackErrorCodes[k] ?? 0) + v
      for (const [k, v] of Object.entries(a.disconnectReasons)) sum.disconnectReasons[k] = (sum.disconnectReasons[k] ?? 0) + v
      const h = decodeFromCompressedBase64(a.latency)
      latency.add(h)
      const ah = decodeFromCompressedBase64(a.ackLatency)
      ackLatency.add(ah)
    }
    return sum
  }

  /** Closes every client on every worker. */
  async disconnect (): Promise<number> {
    const answers = await Promise.all(this.workers.map(async (w) =>
      await w.request<DisconnectedMsg>({ type: 'disconnect' }, 30_000)
    ))
    this.counts.fill(0)
    return answers.reduce((s, a) => s + a.closed, 0)
  }

  /** Stops the worker processes. */
  async close (): Promise<void> {
    await Promise.all(this.workers.map(async (w) => await stopChild(w.child, 2000)))
  }
}
