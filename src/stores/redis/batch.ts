/**
 * Many commands in one round trip, in the order added: a pipeline on a single Redis; on a
 * cluster, where a pipeline must stay on one node, each command goes out at once and
 * auto-pipelining groups them per node. Each `add` gives that command's typed reply.
 */
import { isNoScript, withScripts } from './lua/script.js'
import { Cluster, type ClientContext, type Redis, type RedisCommander, type Result } from 'ioredis'

/**
 * One command, written once for both the client and a pipeline. Name its reply type at the call
 * (`b.add<UserReply>(c => c.sbUserSync(…))`): TypeScript checks it against the command's own.
 */
export type Call<R> = <C extends ClientContext>(c: RedisCommander<C>) => Result<R, C>

export class Batch {
  readonly #client: RedisCommander<{ type: 'default', mapping: 'resp2' }>
  readonly #pipeline: ReturnType<Redis['pipeline']> | undefined
  readonly #settle: Array<{ call: Call<unknown>, resolve: (v: unknown) => void, reject: (err: unknown) => void }> = []
  readonly #sent: Array<Promise<unknown>> = []

  constructor (client: Redis | Cluster) {
    this.#client = client
    this.#pipeline = client instanceof Cluster ? undefined : withScripts(client.pipeline())
  }

  add<R> (call: Call<R>): Promise<R> {
    let reply: Promise<R>
    if (this.#pipeline === undefined) {
      reply = call(this.#client)
    } else {
      call(this.#pipeline)
      reply = new Promise<R>((resolve, reject) => { this.#settle.push({ call, resolve: resolve as (v: unknown) => void, reject }) })
    }
    // the caller may await only `run()`; a failed reply must not also be an unhandled rejection
    reply.catch(() => {})
    this.#sent.push(reply)
    return reply
  }

  /** Sends the pipeline (if any) and waits for every reply; throws the first error. */
  async run (): Promise<void> {
    if (this.#pipeline !== undefined && this.#settle.length > 0) {
      let res: Array<[Error | null, unknown]> | null
      try {
        res = await this.#pipeline.exec()
        if (res === null) throw new Error('pipeline aborted')
      } catch (err) {
        for (const s of this.#settle) s.reject(err)
        throw err
      }
      res.forEach(([err, value], i) => {
        const s = this.#settle[i]
        // a script Redis did not know (it restarted): sent again alone, where EVAL follows
        if (isNoScript(err)) (s.call(this.#client) as Promise<unknown>).then(s.resolve, s.reject)
        else if (err !== null) s.reject(err)
        else s.resolve(value)
      })
    }
    await Promise.all(this.#sent)
  }
}

/** commands per slice of a SlicedBatch */
export const SLICE = 200

/**
 * A batch sent in slices of `size` commands, one slice after another (issue 11): a long batch —
 * the presence heartbeat rewrites every local user and room, thousands of script calls — then
 * never holds Redis (one pipeline runs to its end before any other client's command) or the
 * event loop for long at once, so messages sent meanwhile wait for one slice, not for all of it.
 * The order of the commands is kept; a failed slice fails the rest (run() throws its error).
 */
export class SlicedBatch {
  readonly #client: Redis | Cluster
  readonly #size: number
  readonly #calls: Array<{ call: Call<unknown>, resolve: (v: unknown) => void, reject: (err: unknown) => void }> = []

  constructor (client: Redis | Cluster, size = SLICE) {
    this.#client = client
    this.#size = size
  }

  add<R> (call: Call<R>): Promise<R> {
    const reply = new Promise<R>((resolve, reject) => {
      this.#calls.push({ call: call as Call<unknown>, resolve: resolve as (v: unknown) => void, reject })
    })
    reply.catch(() => {})
    return reply
  }

  async run (): Promise<void> {
    for (let i = 0; i < this.#calls.length; i += this.#size) {
      const slice = this.#calls.slice(i, i + this.#size)
      const b = new Batch(this.#client)
      for (const c of slice) b.add(c.call).then(c.resolve, c.reject)
      try {
        await b.run()
      } catch (err) {
        for (const c of this.#calls.slice(i + this.#size)) c.reject(err)
        throw err
      }
    }
  }
}
