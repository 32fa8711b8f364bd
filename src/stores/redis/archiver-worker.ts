/**
 * The archiver's thread (issue 16): a `worker_threads` entry that runs one Archiver
 * (archiver.ts) with its own Redis connection and its own PostgreSQL pool, so reading the room
 * streams, building the batches and talking to PostgreSQL never take the event loop that serves
 * the sockets. Started and watched by ArchiverThread (archiver-thread.ts), which owns the
 * protocol below; nothing else imports this module.
 *
 * Protocol (structured-clone messages):
 * - to the main thread: `{ type: 'stats', lag, errors, archived }` after every pass (lag in
 *   messages; errors and archived counted since this worker started), `{ type: 'log', level,
 *   obj, msg }` for the main thread's logger, `{ type: 'closed' }` once its connections are closed;
 * - from the main thread: `{ type: 'stop' }` (finish the pass, close Redis and PostgreSQL, exit).
 *
 * The thread names itself `sb-archiver` (/proc/thread-self/comm, Linux only, best effort), so
 * `top -H` and the bench can tell its CPU from the sending path's.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { writeFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { keepConnected } from './keep-connected.js'
import { createKeys } from '../keys.js'
import { PgArchive } from '../postgres/archive.js'
import { Archiver } from './archiver.js'
import { ARCHIVER_THREAD_NAME, type ArchiverWorkerData, type FromWorker, type ToWorker } from './archiver-thread.js'

const port = parentPort
if (port === null) throw new Error('archiver-worker.ts runs only as a worker thread (see archiver-thread.ts)')
const data = workerData as ArchiverWorkerData
const send = (m: FromWorker): void => { port.postMessage(m) }

try {
  writeFileSync('/proc/thread-self/comm', ARCHIVER_THREAD_NAME)
} catch {}

const logAt = (level: 'error' | 'warn' | 'info') => (a: unknown, b?: string): void => {
  if (typeof a === 'string') send({ type: 'log', level, obj: {}, msg: a })
  else send({ type: 'log', level, obj: a as Record<string, unknown>, msg: b ?? '' })
}
const log = { error: logAt('error'), warn: logAt('warn'), info: logAt('info') } as unknown as ConstructorParameters<typeof PgArchive>[1]

/**
 * Batch work: commands wait for a reconnect (bounded by ioredis' retries), never on the request
 * path; auto-pipelined, so a round's per-room commands go out as one write.
 */
const retry = (n: number): number => Math.min(100 * n, 1000)
const options = {
  connectionName: 'sb-archive',
  maxRetriesPerRequest: 1,
  enableAutoPipelining: true,
  retryStrategy: retry,
  // connected to a demoted master: reconnect (to the new one)
  reconnectOnError: (err: Error) => /^READONLY/.test(err.message)
}
const redis = data.redis.sentinels !== undefined
  ? new Redis({ ...options, sentinels: data.redis.sentinels, name: data.redis.name, role: 'master', sentinelRetryStrategy: retry, failoverDetector: true })
  : new Redis(data.redis.url as string, options)
let stopping: Promise<void> | undefined
keepConnected(redis, () => stopping !== undefined)
let redisDown = false
redis.on('error', (err: Error) => {
  if (!redisDown) log.warn({ err: { message: err.message } }, 'archive: redis connection error')
  redisDown = true
})
redis.on('ready', () => { redisDown = false })

const archive = new PgArchive(data.databaseUrl, log)
const archiver = new Archiver({
  client: redis,
  keys: createKeys(data.prefix),
  archive,
  maxLen: data.maxLen,
  log,
  ...(data.batch !== undefined && { batch: data.batch }),
  ...(data.intervalMs !== undefined && { intervalMs: data.intervalMs }),
  onPass: () => { send({ type: 'stats', lag: archiver.lag, errors: archiver.errors, archived: archiver.archived }) }
})

port.on('message', (m: ToWorker) => {
  if (m.type !== 'stop') return
  stopping ??= (async () => {
    await archiver.stop()
    await archive.close()
    await redis.quit().catch(() => { redis.disconnect() })
    send({ type: 'closed' })
    port.close()
  })()
})

// the main thread already ran the migrations (PgArchive.start there); this only learns `up`
await archive.start()
if (stopping === undefined) archiver.start()
