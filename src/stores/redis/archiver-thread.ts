/**
 * The archiver off the event loop (issue 16): runs the Archiver (archiver.ts) in a
 * `worker_threads` Worker (archiver-worker.ts) with its own Redis connection and PostgreSQL
 * pool. The archiver is batch work — XRANGE of whole batches, building the rows, the pg wire
 * protocol — and on the main thread it competed with the sockets for the one event loop; in its
 * own thread the sending path pays nothing for it but the append's dirty-room mark (SADD), and
 * its CPU can be told apart (the thread is named `sb-archiver`; the bench reports it separately).
 *
 * Nothing of issue 16's guarantees moves: the archiver is the same class with the same
 * per-room high-water mark and trim script, so exactly-once, room order, "never trimmed before
 * archived" and several instances at once hold as before; a PostgreSQL outage is the worker's
 * business only (sends and readiness never wait on it).
 *
 * The handle reports the worker's `lag` and `errors` (for /metrics: switchboard_archive_lag_messages,
 * switchboard_archive_errors_total) as of its last pass. A worker that dies (an uncaught error,
 * out of memory) counts one error, is logged, and is started again after a backoff (1 s doubling
 * to 30 s, back to 1 s after a minute of life); `errors` stays cumulative across restarts.
 * `stop` asks the worker to finish its pass and close its connections, and terminates it after
 * `stopTimeoutMs` if it does not.
 */
import { Worker } from 'node:worker_threads'
import type { BaseLogger } from 'pino'

/** What the worker needs to connect by itself (structured-clone data). */
export interface ArchiverWorkerData {
  /** REDIS_URL, or the sentinels and master group name (the archive does not run on a cluster) */
  redis: { url?: string, sentinels?: Array<{ host: string, port: number }>, name?: string }
  /** REDIS_KEY_PREFIX */
  prefix: string
  databaseUrl: string
  /** HISTORY_MAX_MESSAGES */
  maxLen: number
  batch?: number
  intervalMs?: number
}

export type FromWorker =
  | { type: 'stats', lag: number, errors: number, archived: number }
  | { type: 'log', level: 'error' | 'warn' | 'info', obj: Record<string, unknown>, msg: string }
  | { type: 'closed' }

export type ToWorker = { type: 'stop' }

export interface ArchiverThreadOptions extends ArchiverWorkerData {
  log: Pick<BaseLogger, 'error' | 'warn' | 'info'>
  /** how long `stop` waits for the worker to close its connections (default 5000 ms) */
  stopTimeoutMs?: number
  /** first restart delay after a crash (default 1000 ms; doubles up to 30 s) */
  restartMs?: number
}

/** the OS thread name of the archiver (/proc/<pid>/task/<tid>/comm; at most 15 bytes): `top -H` and the bench tell its CPU apart by it */
export const ARCHIVER_THREAD_NAME = 'sb-archiver'

// the worker's module: .ts when running from source (under tsx), .js when built
const ENTRY = new URL(`./archiver-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

const MAX_RESTART_MS = 30_000
const HEALTHY_MS = 60_000

export class ArchiverThread {
  readonly #o: ArchiverThreadOptions
  #worker: Worker | undefined
  #startedAt = 0
  #restartMs: number
  #restartTimer: NodeJS.Timeout | undefined
  #stopped = false
  /** errors of the workers that already ended, plus one per crash */
  #pastErrors = 0
  #errors = 0
  #archived = 0
  #pastArchived = 0
  /** unarchived messages seen by the worker's last pass */
  lag = 0
  /** workers started (1 + restarts) */
  starts = 0

  constructor (opts: ArchiverThreadOptions) {
    this.#o = opts
    this.#restartMs = opts.restartMs ?? 1000
  }

  /** failed inserts, messages lost at the backlog bound and worker crashes, since start */
  get errors (): number { return this.#pastErrors + this.#errors }
  /** messages inserted (new rows) since start */
  get archived (): number { return this.#pastArchived + this.#archived }
  /** the running worker (undefined between a crash and its restart, and after stop) */
  get worker (): Worker | undefined { return this.#worker }

  start (): void {
    if (this.#stopped || this.#worker !== undefined) return
    const { log, stopTimeoutMs: _s, restartMs: _r, ...data } = this.#o
    // from source (tsx), the worker registers tsx itself first: Node 20 does not carry the
    // parent's loader hooks (--import=tsx) into a worker
    const w = ENTRY.pathname.endsWith('.ts')
      ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(m => { m.register(); return import(${JSON.stringify(ENTRY.href)}) })`, { eval: true, workerData: data satisfies ArchiverWorkerData })
      : new Worker(ENTRY, { workerData: data satisfies ArchiverWorkerData })
    // never what keeps the process alive: stop() closes it; an exit without stop() ends it
    w.unref()
    this.#worker = w
    this.#startedAt = Date.now()
    this.starts++
    w.on('message', (m: FromWorker) => {
      if (m.type === 'stats') {
        this.lag = m.lag
        this.#errors = m.errors
        this.#archived = m.archived
      } else if (m.type === 'log') {
        log[m.level](m.obj, m.msg)
      }
    })
    w.on('error', (err) => {
      log.error({ err: { message: err.message } }, 'archive: the archiver thread failed')
    })
    w.on('exit', (code) => {
      if (this.#worker !== w) return
      this.#worker = undefined
      this.#pastErrors += this.#errors
      this.#pastArchived += this.#archived
      this.#errors = 0
      this.#archived = 0
      if (this.#stopped) return
      this.#pastErrors++
      if (Date.now() - this.#startedAt > HEALTHY_MS) this.#restartMs = this.#o.restartMs ?? 1000
      log.error({ exitCode: code, restartInMs: this.#restartMs }, 'archive: the archiver thread exited; restarting it (sends are unaffected, messages wait in Redis)')
      this.#restartTimer = setTimeout(() => { this.start() }, this.#restartMs).unref()
      this.#restartMs = Math.min(this.#restartMs * 2, MAX_RESTART_MS)
    })
  }

  /** Stops the worker: it finishes its pass and closes its Redis and PostgreSQL connections. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#restartTimer)
    const w = this.#worker
    if (w === undefined) return
    const exited = new Promise<void>(resolve => { w.once('exit', () => resolve()) })
    w.postMessage({ type: 'stop' } satisfies ToWorker)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>(resolve => { timer = setTimeout(() => resolve('late'), this.#o.stopTimeoutMs ?? 5000) })
    if (await Promise.race([exited, late]) === 'late') {
      this.#o.log.warn('archive: the archiver thread did not stop in time; terminating it')
      await w.terminate()
    }
    clearTimeout(timer)
  }
}
