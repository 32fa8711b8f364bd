/**
 * The client's connection (SPEC §9): one socket.io-client socket, the token it hands over, and
 * the decisions socket.io-client does not make — reconnecting after a refusal it treats as final
 * (`token_expired`, `rate_limited`, a server-side disconnect during a drain), stopping for good
 * on `unauthorized`/`forbidden`, refreshing the token on `auth:expiring`. Room state and the
 * message API live in index.ts; this part knows nothing of rooms.
 */
import { io, type Socket } from 'socket.io-client'
import type { AckOk, MainEmitEvents, MainListenEvents, Payload } from './types.js'
import type { ClientEvents, ClientOptions, Status, TokenSource } from './options.js'
import { Backoff, Gate, SwitchboardError, sleep, tokenExpiry } from './util.js'

const FINAL_CODES = new Set(['unauthorized', 'forbidden'])

/** What the connection tells its client: events to emit, and the two moments rooms care about. */
export interface ConnectionHooks {
  emit: <E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>) => void
  /** after `connected` was emitted: restore the session's rooms and subscriptions */
  connected: (recovered: boolean) => Promise<void>
  /** before `disconnected` is emitted: every room must be caught up again */
  dropped: () => void
}

export class Connection {
  readonly socket: Socket<MainListenEvents, MainEmitEvents>
  readonly ackTimeoutMs: number
  #status: Status = 'idle'
  #token: string | undefined
  readonly #tokenSource: TokenSource
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false
  #shutdownSeen = false
  #farLimitedUntil = 0
  #refreshing = false
  #handledExpiry = 0
  readonly #backoff: Backoff
  readonly #gate = new Gate()
  readonly #hooks: ConnectionHooks

  constructor (opts: ClientOptions, hooks: ConnectionHooks) {
    this.#hooks = hooks
    this.#tokenSource = opts.token
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 5000
    const min = opts.backoffMinMs ?? 500
    const max = opts.backoffMaxMs ?? 30_000
    this.#backoff = new Backoff(min, max)
    this.socket = io(opts.url, {
      // a Manager of its own: socket.io-client would otherwise share this one (autoConnect off)
      // with the application's own io(url + '/admin') sockets, which then never connect
      forceNew: true,
      autoConnect: false,
      reconnectionDelay: min,
      reconnectionDelayMax: max,
      randomizationFactor: 0.5,
      ...(opts.transports !== undefined && { transports: opts.transports }),
      ...opts.socketOptions,
      auth: (cb) => cb({ token: this.#token ?? '' })
    })
    const s = this.socket
    s.on('connect', () => { this.#onConnect().catch(() => {}) })
    s.on('disconnect', (reason) => this.#onDisconnect(reason))
    s.on('connect_error', (err) => this.#onConnectError(err as Error & { data?: { retryAfterMs?: number } }))
    s.on('server:shutdown', (e) => { this.#shutdownSeen = true; this.#hooks.emit('shutdown', e) })
    s.on('rate:limited', (e) => {
      if (e.reason === 'rate_limited') this.#farLimitedUntil = Date.now() + e.retryAfterMs
    })
    s.on('auth:expiring', (e) => { this.#refresh(e.expiresAt).catch(() => {}) })
  }

  get status (): Status { return this.#status }

  connect (): void {
    this.#stopped = false
    this.#backoff.reset()
    this.#open(false).catch(() => {})
  }

  close (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.socket.disconnect()
    this.#setStatus('stopped')
    this.wake()
  }

  /** Emits an event and resolves with its `ok` answer; rejects with a `SwitchboardError`. */
  async request<E extends keyof MainEmitEvents>(event: E, payload: Payload<E>, timeoutMs: number): Promise<AckOk<E>> {
    let answer: any
    try {
      answer = await (this.socket.timeout(Math.max(1, timeoutMs)) as any).emitWithAck(event, payload)
    } catch (err) {
      throw new SwitchboardError('timeout', `no answer to ${event} within ${timeoutMs} ms`, { cause: err })
    }
    if (answer?.ok === true) return answer as AckOk<E>
    throw SwitchboardError.from(answer?.error ?? { code: 'internal', message: `bad answer to ${event}` })
  }

  /** Wakes everything waiting in `until` to look at the state again. */
  wake (): void {
    this.#gate.open()
  }

  /** Resolves once `ready()`; rejects with `closed` once stopped, `timeout` at `deadline`. */
  async until (ready: () => boolean, deadline: number): Promise<void> {
    await this.#gate.until(ready, deadline, () => this.#stopped)
  }

  async #open (freshToken: boolean): Promise<void> {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#setStatus(this.#status === 'idle' ? 'connecting' : 'reconnecting')
    try {
      await this.#ensureToken(freshToken)
    } catch (err) {
      this.#hooks.emit('error', new SwitchboardError('token_provider_failed', `token provider failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }))
      this.#retry('token_provider_failed', 0, true)
      return
    }
    if (!this.#stopped) this.socket.connect()
  }

  /** Schedules a new attempt after the backoff (at least `minMs`). */
  #retry (code: string, minMs = 0, freshToken = false): void {
    if (this.#stopped) return
    const delayMs = Math.max(minMs, this.#backoff.next())
    this.#setStatus('reconnecting')
    this.#hooks.emit('retry', { kind: 'connect', code, delayMs, attempt: this.#backoff.attempts })
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#open(freshToken).catch(() => {}) }, delayMs)
  }

  #stop (code: SwitchboardError['code'], message: string): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.socket.disconnect()
    this.#setStatus('stopped')
    this.#hooks.emit('stopped', new SwitchboardError(code, message))
    this.wake()
  }

  async #ensureToken (fresh: boolean): Promise<void> {
    const src = this.#tokenSource
    if (typeof src === 'string') { this.#token = src; return }
    const exp = this.#token === undefined ? undefined : tokenExpiry(this.#token)
    if (!fresh && this.#token !== undefined && (exp === undefined || exp > Date.now() + 5000)) return
    const t = await src()
    if (typeof t !== 'string' || t === '') throw new Error('the provider gave no token')
    this.#token = t
  }

  async #onConnect (): Promise<void> {
    this.#backoff.reset()
    this.#shutdownSeen = false
    this.#setStatus('connected')
    const recovered = this.socket.recovered === true
    this.#hooks.emit('connected', { recovered })
    await this.#hooks.connected(recovered)
  }

  #onDisconnect (reason: string): void {
    this.#hooks.dropped()
    this.#hooks.emit('disconnected', { reason })
    if (this.#stopped || reason === 'io client disconnect') return
    if (reason !== 'io server disconnect') { this.#setStatus('reconnecting'); return } // socket.io-client reconnects
    // socket.io-client does not come back after a server-side disconnect: decide here
    const exp = this.#token === undefined ? undefined : tokenExpiry(this.#token)
    if (this.#shutdownSeen) this.#retry('server_shutdown')
    else if (Date.now() < this.#farLimitedUntil) this.#retry('rate_limited', this.#farLimitedUntil - Date.now())
    else if (exp !== undefined && exp <= Date.now() + 1000) this.#onExpired()
    else this.#stop('disconnected', 'disconnected by the server')
  }

  #onConnectError (err: Error & { data?: { retryAfterMs?: number } }): void {
    if (this.#stopped) return
    if (this.socket.active) { this.#setStatus('reconnecting'); return } // a transport error: socket.io-client retries
    const code = err.message
    if (FINAL_CODES.has(code)) this.#stop(code as 'unauthorized', `the server refused the connection: ${code}`)
    else if (code === 'token_expired') this.#onExpired()
    else if (code === 'rate_limited') this.#retry(code, err.data?.retryAfterMs ?? 1000)
    else this.#retry(code) // unavailable (draining instance, Redis away) and anything unknown
  }

  #onExpired (): void {
    if (typeof this.#tokenSource === 'string') this.#stop('token_expired', 'the token expired and no token provider was given')
    else this.#retry('token_expired', 0, true)
  }

  /** `auth:expiring`: fetch a fresh token and hand it over without reconnecting. */
  async #refresh (expiresAt: number): Promise<void> {
    if (typeof this.#tokenSource === 'string' || this.#refreshing || expiresAt <= this.#handledExpiry) return
    this.#refreshing = true
    try {
      for (let attempt = 1; this.socket.connected && Date.now() < expiresAt; attempt++) {
        try {
          await this.#ensureToken(true)
          const r = await this.request('auth:refresh', { token: this.#token as string }, this.ackTimeoutMs)
          // the expiry handled is the one warned about: a provider that hands back the same token
          // (the server then warns again with the same expiresAt) must not make the warning loop,
          // but the new token's own warning (a later expiresAt) must be answered in its turn
          this.#handledExpiry = expiresAt
          this.#hooks.emit('tokenRefreshed', { expiresAt: r.expiresAt })
          return
        } catch (err) {
          const e = err instanceof SwitchboardError ? err : new SwitchboardError('token_provider_failed', `token provider failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
          this.#hooks.emit('error', e)
          await sleep(Math.min(1000 * 2 ** attempt, 15_000) * (0.5 + Math.random() / 2))
        }
      }
    } finally {
      this.#refreshing = false
    }
  }

  #setStatus (s: Status): void {
    if (s === this.#status) return
    this.#status = s
    this.#hooks.emit('status', s)
    this.wake()
  }
}
