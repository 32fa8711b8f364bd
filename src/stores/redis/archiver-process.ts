/**
 * The archiver off the sockets' process (issue 16): runs the Archiver (archiver.ts) in a child
 * process (archiver-child.ts, `child_process.fork`) with its own Redis connection and
 * PostgreSQL pool. The archiver is batch work — XRANGE of whole batches, building the rows, the
 * pg wire protocol — and on the main thread it competed with the sockets for the one event loop.
 * In a worker thread (its first home) it still shared the process's V8 platform: its garbage was
 * collected by the same helper threads the sockets' isolate uses for its own concurrent GC, on the
 * sending path's account (bench/README.md). In a process of its own nothing is shared: the
 * sending path pays for the append's dirty-room mark (SADD) and nothing else, and the archiver's
 * CPU and memory are its own (`ps`, `top`: the process is titled `sb-archiver`; the bench
 * reports it apart).
 *
 * Nothing of issue 16's guarantees moves: the archiver is the same class with the same
 * per-room high-water mark and trim script, so exactly-once, room order, "never trimmed before
 * archived" and several instances at once hold as before; a PostgreSQL outage is the child's
 * business only (sends and readiness never wait on it).
 *
 * The handle reports the child's `lag` and `errors` (for /metrics: switchboard_archive_lag_messages,
 * switchboard_archive_errors_total) as of its last pass. A child that dies (an uncaught error,
 * out of memory, a signal) counts one error, is logged, and is started again after a backoff (1 s
 * doubling to 30 s, back to 1 s after a minute of life); `errors` stays cumulative across
 * restarts. `stop` asks the child to finish its pass and close its connections, and kills it
 * (SIGKILL) after `stopTimeoutMs` if it does not. The child never outlives this process: it
 * stops when the IPC channel closes (this process exited, however it ended).
 */
import { fork, type ChildProcess } from 'node:child_process'
import type { BaseLogger } from 'pino'
import { ConfigSchema } from '../../config.js'

/** What the child needs to connect by itself (sent as its first IPC message, not in its env or argv). */
export interface ArchiverChildData {
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

export type FromChild =
  | { type: 'stats', lag: number, errors: number, archived: number }
  | { type: 'log', level: 'error' | 'warn' | 'info', obj: Record<string, unknown>, msg: string }
  | { type: 'closed' }

export type ToChild = { type: 'start', data: ArchiverChildData } | { type: 'stop' }

export interface ArchiverProcessOptions extends ArchiverChildData {
  log: Pick<BaseLogger, 'error' | 'warn' | 'info'>
  /** how long `stop` waits for the child to close its connections (default 5000 ms) */
  stopTimeoutMs?: number
  /** first restart delay after a crash (default 1000 ms; doubles up to 30 s) */
  restartMs?: number
}

/** the archiver's process title (`ps`, `top`, /proc/<pid>/comm; at most 15 bytes): the bench tells its CPU apart by it */
export const ARCHIVER_PROCESS_NAME = 'sb-archiver'

// the child's module: .ts when running from source (under tsx), .js when built
const ENTRY = new URL(`./archiver-child${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

/**
 * The child's environment: this process's, less every Switchboard setting (SPEC §2: the database
 * URL, JWT_SECRET, METRICS_TOKEN, REDIS_URL…): the child learns what it needs over IPC, and
 * /proc/<pid>/environ of a process that needs none of them should not hold them. What stays is
 * the system's and Node's (PATH, NODE_OPTIONS, NODE_EXTRA_CA_CERTS…) and libpq's own PG*
 * variables, which pg reads (a DATABASE_URL without a password takes PGPASSWORD).
 */
function childEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!Object.hasOwn(ConfigSchema.properties, k)) env[k] = v
  return env
}

const MAX_RESTART_MS = 30_000
const HEALTHY_MS = 60_000

export class ArchiverProcess {
  readonly #o: ArchiverProcessOptions
  #child: ChildProcess | undefined
  #startedAt = 0
  #restartMs: number
  #restartTimer: NodeJS.Timeout | undefined
  #stopped = false
  /** errors of the children that already ended, plus one per crash */
  #pastErrors = 0
  #errors = 0
  #archived = 0
  #pastArchived = 0
  /** unarchived messages seen by the child's last pass */
  lag = 0
  /** children started (1 + restarts) */
  starts = 0

  constructor (opts: ArchiverProcessOptions) {
    this.#o = opts
    this.#restartMs = opts.restartMs ?? 1000
  }

  /** failed inserts, messages lost at the backlog bound and child crashes, since start */
  get errors (): number { return this.#pastErrors + this.#errors }
  /** messages inserted (new rows) since start */
  get archived (): number { return this.#pastArchived + this.#archived }
  /** the running child (undefined between a crash and its restart, and after stop) */
  get child (): ChildProcess | undefined { return this.#child }

  start (): void {
    if (this.#stopped || this.#child !== undefined) return
    const { log, stopTimeoutMs: _s, restartMs: _r, ...data } = this.#o
    // only what the child needs: not this process's preloads, inspector or profiler flags;
    // from source, tsx's loader (resolved here, so the child's cwd does not matter)
    const execArgv = ENTRY.pathname.endsWith('.ts') ? [`--import=${import.meta.resolve('tsx')}`] : []
    const child = fork(ENTRY, [], { execArgv, env: childEnv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
    // never what keeps this process alive: stop() ends it; an exit without stop() ends it too
    child.unref()
    child.channel?.unref()
    this.#child = child
    this.#startedAt = Date.now()
    this.starts++
    child.send({ type: 'start', data } satisfies ToChild)
    child.on('message', (m: FromChild) => {
      if (m.type === 'stats') {
        this.lag = m.lag
        this.#errors = m.errors
        this.#archived = m.archived
      } else if (m.type === 'log') {
        log[m.level](m.obj, m.msg)
      }
    })
    child.on('error', (err) => {
      log.error({ err: { message: err.message } }, 'archive: the archiver process failed')
    })
    child.on('exit', (code, signal) => {
      if (this.#child !== child) return
      this.#child = undefined
      this.#pastErrors += this.#errors
      this.#pastArchived += this.#archived
      this.#errors = 0
      this.#archived = 0
      if (this.#stopped) return
      this.#pastErrors++
      if (Date.now() - this.#startedAt > HEALTHY_MS) this.#restartMs = this.#o.restartMs ?? 1000
      log.error({ exitCode: code, signal, restartInMs: this.#restartMs }, 'archive: the archiver process exited; restarting it (sends are unaffected, messages wait in Redis)')
      this.#restartTimer = setTimeout(() => { this.start() }, this.#restartMs).unref()
      this.#restartMs = Math.min(this.#restartMs * 2, MAX_RESTART_MS)
    })
  }

  /** Stops the child: it finishes its pass and closes its Redis and PostgreSQL connections. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#restartTimer)
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>(resolve => { child.once('exit', () => resolve()) })
    // (the channel may already be closing: a child that got the terminal's SIGINT stops by itself)
    child.send({ type: 'stop' } satisfies ToChild, () => {})
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>(resolve => { timer = setTimeout(() => resolve('late'), this.#o.stopTimeoutMs ?? 5000) })
    if (await Promise.race([exited, late]) === 'late') {
      this.#o.log.warn('archive: the archiver process did not stop in time; killing it')
      child.kill('SIGKILL')
      await exited
    }
    clearTimeout(timer)
  }
}
