/**
 * The archiver (issue 16): moves messages from the Redis room streams to the PostgreSQL archive
 * in batches, on every instance at once. A per-room high-water mark with idempotent inserts,
 * rather than consumer groups: a stream is already ordered and is re-read from its mark after any
 * failure, so nothing waits in a pending list to be claimed, and two instances on one room only
 * insert the same rows twice. Rooms to visit come from the dirty-rooms set the append fills; the
 * mark, the trim and the loss accounting are one script (lua/archive.ts). The README's archive
 * section has the whole story (trimming, the backlog bound, outages).
 */
import type { Redis, Cluster } from 'ioredis'
import type { BaseLogger } from 'pino'
import type { Keys } from '../keys.js'
import type { PgArchive } from '../postgres/archive.js'
import { ARCHIVE_COMMIT, ARCHIVE_READ } from './lua/archive.js'
import { defineScripts } from './lua/script.js'

/** rows a round of #rooms reads and inserts at most, in multiples of `batch` */
const ROUND_BATCHES = 4

/**
 * rooms one script takes at most: a script runs atomically, and Redis serves nobody else meanwhile;
 * a round's scripts go out together, so Redis still serves other clients between its reads of
 * them, as it did between the pipelined per-room commands before (about as many rooms a read)
 */
const ROOMS_PER_SCRIPT = 50

/** `f` over `xs` in slices of at most ROOMS_PER_SCRIPT, all at once; the replies concatenated in order */
async function inSlices<T, R> (xs: T[], f: (slice: T[]) => Promise<R[]>): Promise<R[]> {
  if (xs.length <= ROOMS_PER_SCRIPT) return await f(xs)
  const parts: Array<Promise<R[]>> = []
  for (let i = 0; i < xs.length; i += ROOMS_PER_SCRIPT) parts.push(f(xs.slice(i, i + ROOMS_PER_SCRIPT)))
  return (await Promise.all(parts)).flat()
}

export const archiveDirtyKey = (keys: Keys): string => `${keys.prefix}archive:dirty-rooms`

export interface ArchiverOptions {
  client: Redis | Cluster
  keys: Keys
  archive: PgArchive
  /** HISTORY_MAX_MESSAGES: what the archiver trims a stream down to */
  maxLen: number
  /** pino's log functions (a Fastify logger has them) */
  log: Pick<BaseLogger, 'error' | 'warn'>
  /** messages read per room at a time (default 500; an INSERT takes at most 4 × batch) */
  batch?: number
  /**
   * pause between passes, ms (default 1000: a pass costs per dirty room, and under steady load
   * a longer pause gives each room more messages to a pass — at 2000 msg/s over 1000 rooms, 1 s
   * instead of 200 ms halved the archiver's CPU and Redis' per message, bench/archiver-cpu.ts;
   * the archive still follows within about a second, SPEC §8 asks for 5 s)
   */
  intervalMs?: number
  /** counts failures (PostgreSQL errors, messages lost at the bound) */
  onError?: (n: number) => void
  /** after every pass of the loop (`start`), whatever its outcome: the thread reports lag/errors from here */
  onPass?: () => void
}

export class Archiver {
  readonly #o: Required<Omit<ArchiverOptions, 'onError' | 'onPass'>> & Pick<ArchiverOptions, 'onError' | 'onPass'>
  readonly #dirty: string
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = false
  /** unarchived messages over the rooms seen in the last pass */
  lag = 0
  /** messages inserted (new rows) since start */
  archived = 0
  /** failed inserts plus messages lost at the backlog bound, since start */
  errors = 0
  #lastLogged = 0

  constructor (opts: ArchiverOptions) {
    this.#o = { batch: 500, intervalMs: 1000, ...opts }
    this.#dirty = archiveDirtyKey(opts.keys)
    defineScripts(opts.client, [ARCHIVE_READ, ARCHIVE_COMMIT])
  }

  start (): void {
    const loop = (): void => {
      if (this.#stopped) return
      this.#running = this.pass().then(() => {}, (err: unknown) => {
        this.#o.log.warn({ err: { message: (err as Error).message } }, 'archive: pass failed')
      }).finally(() => {
        this.#o.onPass?.()
        if (!this.#stopped) this.#timer = setTimeout(loop, this.#o.intervalMs).unref()
      })
    }
    loop()
  }

  /** One pass over the dirty rooms; resolves to the lag it saw. */
  async pass (): Promise<number> {
    const { client } = this.#o
    let cursor = '0'
    let lag = 0
    if (!this.#o.archive.up) await this.#o.archive.probe()
    do {
      const [next, rooms] = await client.sscan(this.#dirty, cursor, 'COUNT', 200)
      cursor = next
      if (rooms.length > 0) lag += await this.#rooms(rooms)
    } while (cursor !== '0' && !this.#stopped)
    this.lag = lag
    if (lag > 0 && Date.now() - this.#lastLogged > 10_000) {
      this.#lastLogged = Date.now()
      this.#o.log.warn({ archiveLagMessages: lag, archiveUp: this.#o.archive.up }, 'archive: messages waiting for PostgreSQL')
    }
    return lag
  }

  /**
   * Moves each room's mark to its `upTo` (trimming behind it), or only measures a room whose
   * `upTo` is '': one script for all of them. Returns each room's lag.
   */
  async #commit (rooms: string[], upTo: string[]): Promise<number[]> {
    const { client, keys, maxLen } = this.#o
    const reply = await inSlices(rooms.map((room, i) => [room, upTo[i]]), async (slice) => {
      const keysThenArgv: Array<string | number> = [this.#dirty]
      for (const [room] of slice) keysThenArgv.push(keys.roomHistory(room), keys.roomMeta(room))
      keysThenArgv.push(maxLen)
      for (const [room, to] of slice) keysThenArgv.push(room, to)
      return await client.sbArchiveCommit(1 + 2 * slice.length, ...keysThenArgv)
    })
    const lags = new Array<number>(rooms.length)
    for (let i = 0; i < rooms.length; i++) {
      lags[i] = reply[2 * i]
      const lost = reply[2 * i + 1]
      if (lost > 0) {
        this.errors += lost
        this.#o.onError?.(lost)
        this.#o.log.error({ roomId: rooms[i], lost }, 'archive: the backlog bound dropped unarchived messages (PostgreSQL was down too long)')
      }
    }
    return lags
  }

  /**
   * Archives a page of dirty rooms together, in rounds: one script reads every room's entries
   * after its mark (as the messages' JSON, one string per room), one INSERT takes all of them (at
   * most ROUND_BATCHES × `batch` rows), one script commits every room. A room whose read filled
   * its share goes on to the next round (at most 20 per pass). A failed insert commits nothing
   * (the marks stay; the rows are retried next pass, idempotently). Returns the lag. Rooms many
   * at a time, and nothing per message on this side (no reply entry, no string, no parameter):
   * under steady load most dirty rooms hold about one new message per pass, so per-room commands
   * and per-message objects were most of the archiver's cost — and of the garbage whose
   * collection V8's helper threads do on the server's side.
   */
  async #rooms (rooms: string[]): Promise<number> {
    const { client, keys, archive, batch } = this.#o
    let lag = 0
    let todo = rooms
    for (let round = 0; round < 20 && todo.length > 0 && !this.#stopped && archive.up; round++) {
      // at most ROUND_BATCHES × batch rows a round, shared by the rooms still to do
      const count = Math.max(1, Math.min(batch, Math.floor((ROUND_BATCHES * batch) / todo.length)))
      const read = await inSlices(todo, async (slice) => {
        const streams: string[] = []
        for (const room of slice) streams.push(keys.roomHistory(room), keys.roomMeta(room))
        return await client.sbArchiveRead(streams.length, ...streams, count)
      })
      const got: string[] = []
      const jsons: string[] = []
      const upTo = new Array<string>(todo.length)
      for (let i = 0; i < todo.length; i++) {
        upTo[i] = read[3 * i + 1] as string
        if (read[3 * i] as number > 0) {
          got.push(todo[i])
          jsons.push(read[3 * i + 2] as string)
        }
      }
      try {
        this.archived += await archive.insertJson(got, jsons)
      } catch (err) {
        this.errors++
        this.#o.onError?.(1)
        this.#o.log.error({ err: { message: (err as Error).message }, rooms: todo.length }, 'archive: insert failed; will retry')
        break
      }
      const lags = await this.#commit(todo, upTo)
      const next: string[] = []
      for (let i = 0; i < todo.length; i++) {
        if (read[3 * i] === count && lags[i] > 0) next.push(todo[i])
        else lag += lags[i]
      }
      todo = next
    }
    // what is left (archive down, a failed insert, the round limit): measured only
    if (todo.length > 0) lag += (await this.#commit(todo, todo.map(() => ''))).reduce((a, b) => a + b, 0)
    return lag
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#running
  }
}
