/**
 * The gate in front of the request-path Redis connection. It makes three promises:
 *
 * - **One deadline per request** (SPEC §8): each command gets only the time left in the request's
 *   deadline (src/deadline.ts), at most the per-command timeout; none left → it fails at once.
 *   The deadline travels with the call: a store asks `atDeadline(client, deadline)` for a view of
 *   the gated connection bound to it (one small object per request; the plain `client` is the
 *   view without one).
 * - **Fail fast once Redis is known away**: a command that timed out starts a probe (PING within
 *   1 s); while the probe fails, every command fails at once (`unavailable`) instead of waiting
 *   out its own timeout, and a background PING every 250 ms notices when Redis is back. A
 *   connection that is not ready fails at once anyway (no offline queue).
 * - **Redis' clock**: the offset of Redis' TIME from the local clock, measured with TIME on every
 *   (re)connection and every 10 s, so that a write can carry its deadline on Redis' own clock
 *   (`redisDeadline()`) and a script that only runs after it writes nothing (history append),
 *   and so that what every instance must judge alike (a token's `exp`, `nbf`, `iat`: SPEC §8)
 *   is judged on one clock (`now()`: an addition, no Redis call).
 *
 * - **Overload fails fast**: at most `maxInFlight` commands of requests wait for Redis at once
 *   (per instance). One more, issued for a request (with a deadline), fails at once with
 *   `unavailable` (nothing was sent, so nothing was written, SPEC §4) instead of queueing behind
 *   the others to time out at its deadline: past the bound the instance answers refusals cheaply
 *   (no timer, no closure, no Redis call) and the accepted work keeps its latency. Commands
 *   outside a request (heartbeats, sweeps) are counted but never refused.
 *
 * Readiness asks `probe()`: a PING answered within 1 s, its result cached for 250 ms so that
 * probes do not load Redis (one PING per 250 ms at most, however many probes and scrapes). Redis
 * freezing just after a cached `ok` is seen within 250 ms + 1 s (issue #17: 503 within 1.5 s).
 */
import type { Redis, Cluster } from 'ioredis'
import type { Deadline } from '../../deadline.js'

type Client = Redis | Cluster

export interface RedisGateOptions {
  /** the per-command timeout (ms) outside any request, and the most any command waits */
  commandTimeoutMs: number
  /** told when Redis is found away or back */
  onChange?: (up: boolean) => void
  /** the most commands (pipelines count one) waiting for Redis at once before request commands are refused; default Infinity */
  maxInFlight?: number
}

const PROBE_TIMEOUT_MS = 1000
/** how long a probe's result stands (ms): bounds the time to a 503 to this plus PROBE_TIMEOUT_MS */
const PROBE_CACHE_MS = 250
const RETRY_PROBE_MS = 250
const CLOCK_SYNC_MS = 10_000
/** a command that waited this long for nothing is a sign that Redis is away (a short budget running out is not) */
const SUSPECT_AFTER_MS = 200
/** the script deadline is this much earlier than the local one: its reply must still arrive in time */
const CLOCK_MARGIN_MS = 150

/** An expected refusal: no stack trace (capturing one per refusal is what overload cannot afford). */
function unavailable (message: string): Error {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  const err = new Error(message)
  Error.stackTraceLimit = limit
  err.name = 'RedisUnavailable'
  return err
}

/**
 * `p`, or `unavailable` once `ms` have passed without its answer. The verdict waits one turn of
 * the event loop's I/O phase after the timer: after the loop was blocked (a long GC, a CPU-bound
 * burst) timers run before sockets are read, and a reply already waiting in the socket would
 * otherwise be answered `unavailable` though Redis ran the command ("unavailable" must mean "not
 * written", SPEC §8).
 */
async function within<T> (p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { setImmediate(() => reject(unavailable(message))) }, ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

/** the gate of each gated connection (and of each view of one), for `atDeadline` */
const gates = new WeakMap<object, RedisGate>()

/**
 * The view of a gated connection in which every command (and pipeline) gets only the time left
 * until `deadline` (epoch ms, local clock; SPEC §8), at most the per-command timeout, and fails
 * at once with `unavailable` (name `RedisUnavailable`) when none is left. `client` itself when
 * `deadline` is undefined (outside a request) or `client` is not behind a gate (a plain
 * connection in a test).
 */
export function atDeadline<C extends Client> (client: C, deadline: Deadline): C {
  if (deadline === undefined) return client
  const gate = gates.get(client)
  return gate === undefined ? client : gate.at(deadline) as C
}

export class RedisGate {
  readonly #client: Client
  readonly #opts: RedisGateOptions
  readonly #commands: Set<string>
  readonly #maxInFlight: number
  #inFlight = 0
  #down = false
  #probing: Promise<boolean> | undefined
  #probedAt = 0
  #probeOk = true
  #retry: NodeJS.Timeout | undefined
  #closed = false
  #clock: NodeJS.Timeout | undefined
  /** Redis time minus local time (ms), and half the round trip it was measured with; undefined until measured */
  #offset: { ms: number, uncertainty: number } | undefined
  /** the gated client: hand this to the stores */
  readonly client: Client

  constructor (client: Client, opts: RedisGateOptions) {
    this.#client = client
    this.#opts = opts
    this.#commands = new Set(client.getBuiltinCommands().filter(c => c !== 'quit'))
    this.#maxInFlight = opts.maxInFlight ?? Infinity
    this.client = this.#proxy(undefined)
    client.on('ready', () => { this.syncClock().catch(() => {}) })
    this.#clock = setInterval(() => { this.syncClock().catch(() => {}) }, CLOCK_SYNC_MS)
    this.#clock.unref()
  }

  /** commands waiting for Redis now */
  get inFlight (): number {
    return this.#inFlight
  }

  /** true while Redis is known to be away (commands fail at once) */
  get down (): boolean {
    return this.#down || (this.#client.status !== 'ready')
  }

  /**
   * Redis' clock now (epoch ms): the local clock plus the measured offset (the local clock until
   * the first measure). Cheap: no Redis call. Its error is the measure's half round trip (the
   * offset is measured at start-up, on every reconnection and every 10 s).
   */
  now (): number {
    return Date.now() + (this.#offset?.ms ?? 0)
  }

  /** The gated client bound to a request's `deadline` (epoch ms, local): see `atDeadline`. */
  at (deadline: Deadline): Client {
    return deadline === undefined ? this.client : this.#proxy(deadline)
  }

  /**
   * The gated client in which every command gets at most `ms` from when it is issued (for a
   * caller that cannot pass a deadline per call: @fastify/rate-limit's store, one command per
   * request, under the REST limiter's own budget).
   */
  within (ms: number): Client {
    return this.#proxy(undefined, ms)
  }

  /** Epoch ms (local) by which a command issued now for a request due at `deadline` must be answered. */
  deadline (deadline?: Deadline): number {
    const own = Date.now() + this.#opts.commandTimeoutMs
    return deadline === undefined || deadline > own ? own : deadline
  }

  /**
   * The deadline of a write issued now for a request due at `deadline`, on Redis' clock (epoch
   * ms), early enough that the reply arrives before the local deadline; 0 while the offset is
   * unknown (then no check is made).
   */
  redisDeadline (deadline?: Deadline): number {
    if (this.#offset === undefined) return 0
    return Math.floor(this.deadline(deadline) + this.#offset.ms - this.#offset.uncertainty - CLOCK_MARGIN_MS)
  }

  /** Measures Redis' clock offset with TIME (bounded; errors are ignored). */
  async syncClock (): Promise<void> {
    if (this.#client.status !== 'ready') return
    try {
      const t0 = Date.now()
      const [s, us] = await within(this.#client.time(), PROBE_TIMEOUT_MS, 'TIME timed out')
      const t1 = Date.now()
      const redisMs = Number(s) * 1000 + Math.floor(Number(us) / 1000)
      this.#offset = { ms: redisMs - (t0 + t1) / 2, uncertainty: Math.ceil((t1 - t0) / 2) }
    } catch {}
  }

  /**
   * Readiness: whether Redis answered a PING within 1 s, at most 250 ms ago (concurrent callers
   * share one PING). Worst case from a freeze to `false`: 250 ms + 1 s.
   */
  async probe (): Promise<boolean> {
    if (this.#client.status !== 'ready') {
      // no PING on a connection that is not ready; but while Redis is known away a retry must
      // stay scheduled, or nothing would ever find it back once the connection is ready again
      // (only a readiness probe from outside would: requests fail at once without asking)
      if (this.#down) this.#scheduleRetry()
      return false
    }
    // known away and a PING already out: no need to wait for it to say so again
    if (this.#probing !== undefined) return this.#down ? false : await this.#probing
    if (Date.now() - this.#probedAt < PROBE_CACHE_MS) return this.#probeOk
    this.#probing = (async () => {
      let ok = false
      try {
        ok = await within(this.#client.ping(), PROBE_TIMEOUT_MS, 'PING timed out') === 'PONG'
      } catch {}
      this.#probedAt = Date.now()
      this.#probeOk = ok
      this.#probing = undefined
      this.#setDown(!ok)
      return ok
    })()
    return await this.#probing
  }

  close (): void {
    this.#closed = true
    clearInterval(this.#clock)
    clearTimeout(this.#retry)
  }

  #setDown (down: boolean): void {
    if (down === this.#down) {
      if (down) this.#scheduleRetry()
      return
    }
    this.#down = down
    this.#opts.onChange?.(!down)
    if (down) this.#scheduleRetry()
    else this.syncClock().catch(() => {})
  }

  #scheduleRetry (): void {
    if (this.#retry !== undefined || this.#closed) return
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      this.#probedAt = 0
      this.probe().catch(() => {})
    }, RETRY_PROBE_MS)
    this.#retry.unref()
  }

  /** A command (or pipeline exec) under the gate. */
  async #run<T> (call: () => Promise<T>, deadline: Deadline): Promise<T> {
    if (this.#down) throw unavailable('redis is not answering')
    const started = Date.now()
    const remaining = this.deadline(deadline) - started
    if (remaining <= 0) throw unavailable('the request\'s deadline has passed')
    if (deadline !== undefined && this.#inFlight >= this.#maxInFlight) throw unavailable('too many commands in flight')
    this.#inFlight++
    try {
      // not left to ioredis' commandTimeout alone: it only starts when the command is written,
      // and an auto-pipelined command waits unwritten behind a pipeline Redis never answered
      return await within(call(), remaining, 'redis did not answer in time')
    } catch (err) {
      const e = err as { name?: string, message?: string }
      const timedOut = e.name === 'RedisUnavailable' || /timed out/i.test(e.message ?? '')
      const waited = Date.now() - started
      if (timedOut && waited >= PROBE_TIMEOUT_MS) {
        // no answer for as long as a failed readiness PING: Redis is away until a PING says otherwise
        this.#probedAt = Date.now()
        this.#probeOk = false
        this.#setDown(true)
      } else if (timedOut && waited >= SUSPECT_AFTER_MS) {
        this.#probedAt = 0
        this.probe().catch(() => {})
      }
      throw err
    } finally {
      this.#inFlight--
    }
  }

  #proxy (deadline: Deadline, timeoutMs?: number): Client {
    const gate = this
    const commands = this.#commands
    const view = new Proxy(this.#client, {
      get (target, prop) {
        const value = Reflect.get(target, prop, target) as unknown
        if (typeof value !== 'function') return value
        if (typeof prop === 'string' && commands.has(prop)) {
          return (...args: unknown[]) => {
            // ioredis also takes a node-style callback last (@fastify/rate-limit's store uses it)
            const cb = typeof args[args.length - 1] === 'function' ? args.pop() as (err: unknown, value?: unknown) => void : undefined
            const p = gate.#run(async () => await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args), timeoutMs === undefined ? deadline : Date.now() + timeoutMs)
            if (cb === undefined) return p
            p.then((v) => cb(null, v), (err: unknown) => cb(err))
            return p.catch(() => undefined)
          }
        }
        if (prop === 'defineCommand') {
          return (name: string, def: unknown) => {
            commands.add(name)
            return (value as (n: string, d: unknown) => unknown).call(target, name, def)
          }
        }
        if (prop === 'pipeline' || prop === 'multi') {
          return (...args: unknown[]) => {
            const p = (value as (...a: unknown[]) => { exec: (...a: unknown[]) => Promise<unknown> }).apply(target, args)
            const exec = p.exec.bind(p)
            p.exec = async (...a: unknown[]) => await gate.#run(async () => await exec(...a), timeoutMs === undefined ? deadline : Date.now() + timeoutMs)
            return p
          }
        }
        return value.bind(target)
      }
    })
    // only the plain view is looked up (a WeakMap entry per request would be GC work)
    if (deadline === undefined && timeoutMs === undefined) gates.set(view, this)
    return view
  }
}
