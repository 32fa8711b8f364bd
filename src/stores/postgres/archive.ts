/**
 * The PostgreSQL archive of every message (issue 16, SPEC §8 "History outlives Redis' window").
 * Rows are written only by the archiver (src/stores/redis/archiver.ts), with an idempotent
 * `INSERT … ON CONFLICT DO NOTHING`, so any number of instances may archive the same batch.
 * Messages are immutable: nothing updates or deletes a row.
 *
 * `start` runs the migrations (node-pg-migrate, under its advisory lock in `wait` mode, so
 * instances starting together run them once) and retries with backoff while the database is
 * unreachable: logged loudly, never fatal, never a readiness failure. Until then, and while
 * queries fail, `up` is false and reads that need the archive fail fast with `unavailable`.
 */
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { runner } from 'node-pg-migrate'
import type { BaseLogger } from 'pino'

/** pino's log functions (a Fastify logger has them) */
type Log = Pick<BaseLogger, 'error' | 'warn' | 'info'>
import type { Message } from '../../schemas/common.js'
import type { Deadline } from '../../deadline.js'
import { appError } from '../../errors.js'
import { parseId } from '../../model/message-id.js'

export interface ArchivePage { messages: Message[] }

/** while PostgreSQL is known away, how often a `SELECT 1` asks whether it answers again (ms) */
const REPROBE_MS = 1000

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url))

export class PgArchive {
  readonly pool: pg.Pool
  readonly #log: Log
  #up = false
  #migrated = false
  #closed = false
  #timer: NodeJS.Timeout | undefined
  #reprobe: NodeJS.Timeout | undefined
  #started: Promise<void> | undefined

  /** `queryTimeoutMs`: a statement that takes longer fails (reads answer unavailable, the archiver retries) */
  constructor (url: string, log: Log, opts: { queryTimeoutMs?: number } = {}) {
    this.#log = log
    this.pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: 2000,
      query_timeout: opts.queryTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000
    })
    this.pool.on('error', (err) => { this.#down(err) })
  }

  /** true once migrated and while the last query succeeded */
  get up (): boolean { return this.#up && this.#migrated }

  /** Starts the migrate-and-retry loop; resolves after the first attempt (whatever its outcome). */
  async start (): Promise<void> {
    this.#started ??= this.#attempt(1000)
    await this.#started
  }

  async #attempt (backoffMs: number): Promise<void> {
    if (this.#closed) return
    try {
      await this.#migrate()
      this.#migrated = true
      this.#up = true
      this.#log.info('archive: PostgreSQL reachable, schema up to date')
    } catch (err) {
      this.#log.error({ err: { message: (err as Error).message }, retryInMs: backoffMs }, 'archive: PostgreSQL unreachable or migration failed; history beyond Redis is unavailable until it answers (sends are unaffected); retrying')
      this.#timer = setTimeout(() => { this.#attempt(Math.min(backoffMs * 2, 30_000)).catch(() => {}) }, backoffMs)
      this.#timer.unref()
    }
  }

  async #migrate (): Promise<void> {
    const client = await this.pool.connect()
    try {
      await runner({
        dbClient: client,
        dir: MIGRATIONS_DIR,
        ignorePattern: '.*\\.(d\\.ts|map)$',
        migrationsTable: 'switchboard_migrations',
        direction: 'up',
        advisoryLockMode: 'wait',
        log: () => {},
        logger: { debug: () => {}, info: () => {}, warn: (m: string) => this.#log.warn(m), error: (m: string) => this.#log.error(m) }
      })
    } finally {
      client.release()
    }
  }

  #down (err: unknown): void {
    if (this.#up) this.#log.error({ err: { message: (err as Error).message } }, 'archive: PostgreSQL query failed')
    this.#up = false
    this.#scheduleReprobe()
  }

  /**
   * While known away, a `SELECT 1` every REPROBE_MS until PostgreSQL answers: reads refuse at once
   * while `up` is false (`#ready`) and so never ask themselves, and the copy the reads use (the
   * main thread's; the archiver thread has its own, which probes before each pass) would
   * otherwise stay down for good after any outage.
   */
  #scheduleReprobe (): void {
    if (this.#reprobe !== undefined || this.#closed || !this.#migrated) return
    this.#reprobe = setTimeout(() => {
      this.#reprobe = undefined
      this.probe().then(ok => { if (!ok) this.#scheduleReprobe() }, () => { this.#scheduleReprobe() })
    }, REPROBE_MS)
    this.#reprobe.unref()
  }

  /**
   * A query; with a request's `deadline` (epoch ms, src/deadline.ts) it may take only the time left
   * (SPEC §8: a request answers within 2 s), and running out of it says nothing about PostgreSQL
   * (not marked down). Without one, the pool's `query_timeout`.
   */
  async #query<R extends pg.QueryResultRow> (text: string, values: unknown[], deadline?: Deadline): Promise<pg.QueryResult<R>> {
    let left: number | undefined
    if (deadline !== undefined) {
      left = Math.floor(deadline - Date.now())
      if (left <= 0) throw new Error('no time left of the request\'s deadline')
    }
    try {
      const r = left === undefined ? await this.pool.query<R>(text, values) : await this.pool.query<R>({ text, values, query_timeout: left } as pg.QueryConfig)
      if (!this.#up && this.#migrated) this.#log.info('archive: PostgreSQL answers again')
      this.#up = this.#migrated
      return r
    } catch (err) {
      if (left === undefined || !/timeout/i.test((err as Error).message)) this.#down(err)
      throw err
    }
  }

  /** After a failure: one cheap query to learn whether PostgreSQL answers again (sets `up`). */
  async probe (): Promise<boolean> {
    if (!this.#migrated) return false
    try {
      await this.#query('SELECT 1', [])
      return true
    } catch {
      return false
    }
  }

  /** Inserts messages of one room (any order); already archived ids are skipped. Throws on failure. */
  async insert (roomId: string, messages: Message[]): Promise<number> {
    return await this.insertJson([roomId], [messages.map(m => JSON.stringify(m)).join(',')])
  }

  /**
   * `insert` for messages of any rooms already in their JSON text, in one statement: room
   * `roomIds[i]` gets the messages of `messages[i]`, the inside of a JSON array (the messages
   * as the append stored and published them, joined by ','). The archiver's path (the JSON is
   * what its read script returns per room): no parse, no string per message, and the whole round
   * as two parameters whatever its size. Already archived ids are skipped. Returns the rows
   * inserted; throws on failure.
   */
  async insertJson (roomIds: string[], messages: string[]): Promise<number> {
    if (roomIds.length === 0) return 0
    // split by jsonb (parsed once; json's `->` would re-read the whole text for every room), the
    // rows stored as json. jsonb refuses the escape \u0000 (a text may hold U+0000), and so do
    // json's functions: such a round goes as one row per message, split here
    if (messages.some(m => m.includes('\\u0000'))) return await this.#insertRows(roomIds, messages)
    const r = await this.#query(
      `INSERT INTO switchboard_messages (room_id, ms, seq, body)
       SELECT r.room_id, split_part(m ->> 'id', '-', 1)::bigint, split_part(m ->> 'id', '-', 2)::bigint, m::json
       FROM unnest($1::text[]) WITH ORDINALITY AS r (room_id, i),
            jsonb_array_elements($2::jsonb -> (r.i::int - 1)) AS m
       ON CONFLICT DO NOTHING`, [roomIds, `[[${messages.join('],[')}]]`])
    return r.rowCount ?? 0
  }

  /** `insertJson`'s path for a round holding `\u0000`: ids split here, bodies cast to json only (no JSON function reads them). */
  async #insertRows (roomIds: string[], messages: string[]): Promise<number> {
    const rooms: string[] = []
    const ms: string[] = []
    const seq: string[] = []
    const bodies: string[] = []
    for (let i = 0; i < roomIds.length; i++) {
      for (const m of JSON.parse(`[${messages[i]}]`) as Message[]) {
        const dash = m.id.indexOf('-')
        rooms.push(roomIds[i])
        ms.push(m.id.slice(0, dash))
        seq.push(m.id.slice(dash + 1))
        bodies.push(JSON.stringify(m))
      }
    }
    const r = await this.#query(
      `INSERT INTO switchboard_messages (room_id, ms, seq, body)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::json[])
       ON CONFLICT DO NOTHING`, [rooms, ms, seq, bodies])
    return r.rowCount ?? 0
  }

  #ready (): void {
    if (!this.up) throw appError('unavailable', 'the message archive is unavailable; retry later')
  }

  /**
   * A page of a room's archived messages, oldest first: ids in (after, before), `limit` rows,
   * from the oldest end (`from: 'after'`) or the newest end (`from: 'before'`). Throws
   * `unavailable` when the archive is down.
   */
  async page (roomId: string, q: { after?: string, before?: string, limit: number, from: 'after' | 'before' }, deadline?: Deadline): Promise<Message[]> {
    this.#ready()
    const where = ['room_id = $1']
    const values: unknown[] = [roomId]
    if (q.after !== undefined) {
      const [ms, seq] = parseId(q.after)
      values.push(ms, seq)
      where.push(`(ms, seq) > ($${values.length - 1}, $${values.length})`)
    }
    if (q.before !== undefined) {
      const [ms, seq] = parseId(q.before)
      values.push(ms, seq)
      where.push(`(ms, seq) < ($${values.length - 1}, $${values.length})`)
    }
    values.push(q.limit)
    const dir = q.from === 'after' ? 'ASC' : 'DESC'
    try {
      const r = await this.#query<{ body: Message }>(
        `SELECT body FROM switchboard_messages WHERE ${where.join(' AND ')} ORDER BY ms ${dir}, seq ${dir} LIMIT $${values.length}`, values, deadline)
      const rows = r.rows.map(row => row.body)
      return q.from === 'after' ? rows : rows.reverse()
    } catch (err) {
      throw appError('unavailable', `the message archive did not answer: ${(err as Error).message}`)
    }
  }

  /** The newest archived id of a room, or undefined when it has none. Throws when down. */
  async newest (roomId: string): Promise<string | undefined> {
    this.#ready()
    const r = await this.#query<{ ms: string, seq: string }>(
      'SELECT ms, seq FROM switchboard_messages WHERE room_id = $1 ORDER BY ms DESC, seq DESC LIMIT 1', [roomId])
    return r.rows.length === 0 ? undefined : `${r.rows[0].ms}-${r.rows[0].seq}`
  }

  async has (roomId: string, id: string, deadline?: Deadline): Promise<boolean> {
    this.#ready()
    const [ms, seq] = parseId(id)
    try {
      const r = await this.#query('SELECT 1 FROM switchboard_messages WHERE room_id = $1 AND ms = $2 AND seq = $3', [roomId, ms, seq], deadline)
      return r.rows.length > 0
    } catch (err) {
      throw appError('unavailable', `the message archive did not answer: ${(err as Error).message}`)
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    if (this.#reprobe !== undefined) clearTimeout(this.#reprobe)
    await this.pool.end().catch(() => {})
  }
}
