/**
 * The archiver's process (issue 16): a `child_process.fork` entry that runs one Archiver
 * (archiver.ts) with its own Redis connection and its own PostgreSQL pool, so reading the room
 * streams, building the batches, talking to PostgreSQL and collecting their garbage never take
 * the process that serves the sockets. Started and watched by ArchiverProcess
 * (archiver-process.ts), which owns the protocol below; nothing else imports this module.
 *
 * Protocol (IPC, advanced serialization):
 * - from the parent: `{ type: 'start', data }` first (what to connect to: never in argv or the
 *   environment, where `ps` would show the database URL), then `{ type: 'stop' }` (finish the
 *   pass, close Redis and PostgreSQL, exit 0);
 * - to the parent: `{ type: 'stats', lag, errors, archived }` after every pass (lag in messages;
 *   errors and archived counted since this child started), `{ type: 'log', level, obj, msg }` for
 *   the parent's logger, `{ type: 'closed' }` once its connections are closed.
 *
 * It also stops (the same way) when the IPC channel closes — the parent exited, however it ended —
 * and on SIGINT or SIGTERM (a terminal's Ctrl-C or a supervisor signalling the whole process
 * group), so it never outlives the service. Its title is `sb-archiver` (`ps`, `top`,
 * /proc/<pid>/comm).
 */
import { Redis } from 'ioredis'
import { keepConnected } from './keep-connected.js'
import { createKeys } from '../keys.js'
import { PgArchive } from '../postgres/archive.js'
import { Archiver } from './archiver.js'
import { ARCHIVER_PROCESS_NAME, type ArchiverChildData, type FromChild, type ToChild } from './archiver-process.js'

if (process.send === undefined) throw new Error('archiver-child.ts runs only as a forked child (see archiver-process.ts)')
process.title = ARCHIVER_PROCESS_NAME

const send = (m: FromChild): void => {
  if (process.connected) process.send?.(m, undefined, undefined, () => {})
}

const data = await new Promise<ArchiverChildData>((resolve) => {
  // the parent went away before it said what to do
  const gone = (): never => process.exit(0)
  const first = (m: ToChild): void => {
    if (m.type !== 'start') return
    process.off('message', first)
    process.off('disconnect', gone)
    resolve(m.data)
  }
  process.on('message', first)
  process.on('disconnect', gone)
})

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

/** Finishes the pass, closes both connections, tells the parent and exits 0. */
function stop (): void {
  stopping ??= (async () => {
    await archiver.stop()
    await archive.close()
    await redis.quit().catch(() => { redis.disconnect() })
    send({ type: 'closed' })
    if (process.connected) process.disconnect?.()
    process.exit(0)
  })()
}
process.on('message', (m: ToChild) => { if (m.type === 'stop') stop() })
process.on('disconnect', stop)
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

// the parent already ran the migrations (PgArchive.start there); this only learns `up`
await archive.start()
if (stopping === undefined) archiver.start()
