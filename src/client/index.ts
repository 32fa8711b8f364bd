/**
 * `switchboard/client` (SPEC §9): a thin layer over socket.io-client that does what every
 * application otherwise writes by hand — token refresh, reconnecting after the refusals
 * socket.io-client treats as final, rejoin with `since` and catch-up without gaps or duplicates,
 * idempotent send retries. Runs in browsers and Node ≥ 20; its only runtime dependency is
 * socket.io-client. Connection handling lives here, room state in rooms.ts.
 */
import { io, type Socket } from 'socket.io-client'
import { Rooms, type CatchUp } from './rooms.js'
import type { AckOk, Message, MainEmitEvents, MainListenEvents, Payload, PresenceState } from './types.js'
import type { ClientEvents, ClientOptions, Status, TokenSource } from './options.js'
import { Backoff, Emitter, Gate, SwitchboardError, randomId, sleep, tokenExpiry } from './util.js'

export * from './types.js'
export type { ClientEvents, ClientOptions, Status, TokenSource } from './options.js'
export { SwitchboardError, compareIds, type ClientErrorCode } from './util.js'
export type { CatchUp, RoomState } from './rooms.js'

const FINAL_CODES = new Set(['unauthorized', 'forbidden'])
const SEND_RETRY = new Set(['timeout', 'unavailable', 'rate_limited', 'not_in_room'])

export class SwitchboardClient extends Emitter<ClientEvents> {
  readonly socket: Socket<MainListenEvents, MainEmitEvents>
  readonly rooms: Rooms
  #status: Status = 'idle'
  #token: string | undefined
  #tokenSource: TokenSource
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = false
  #shutdownSeen = false
  #farLimitedUntil = 0
  #refreshing = false
  #handledExpiry = 0
  readonly #backoff: Backoff
  readonly #ackTimeoutMs: number
  readonly #sendTimeoutMs: number
  readonly #typingThrottleMs: number
  readonly #typingSent = new Map<string, number>()
  readonly #following = new Set<string>()
  readonly #gate = new Gate()

  constructor (opts: ClientOptions) {
    super()
    this.#tokenSource = opts.token
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 5000
    this.#sendTimeoutMs = opts.sendTimeoutMs ?? 30_000
    this.#typingThrottleMs = opts.typingThrottleMs ?? 2000
    const min = opts.backoffMinMs ?? 500
    const max = opts.backoffMaxMs ?? 30_000
    this.#backoff = new Backoff(min, max)
    this.socket = io(opts.url, {
      autoConnect: false,
      reconnectionDelay: min,
      reconnectionDelayMax: max,
      randomizationFactor: 0.5,
      ...(opts.transports !== undefined && { transports: opts.transports }),
      ...opts.socketOptions,
      auth: (cb) => cb({ token: this.#token ?? '' })
    })
    this.rooms = new Rooms(
      async (event, payload) => await this.request(event, payload),
      (m) => this.emit('message', m),
      (roomId, since) => this.emit('gap', { roomId, since })
    )
    this.#wire()
    if (opts.autoConnect !== false) this.connect()
  }

  get status (): Status { return this.#status }
  get connected (): boolean { return this.socket.connected }

  /** Starts (or restarts after `stopped`) connecting. */
  connect (): void {
    this.#stopped = false
    this.#backoff.reset()
    this.#open(false).catch(() => {})
  }

  /** Disconnects for good; pending sends reject with `closed`. */
  close (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.socket.disconnect()
    this.#setStatus('stopped')
    this.#wake()
  }

  /** Joins a room (remembered: rejoined after every reconnect that is not recovered). */
  async join (roomId: string, opts: { since?: string, history?: number } = {}): Promise<CatchUp> {
    await this.#whenConnected(Date.now() + this.#sendTimeoutMs)
    try {
      return await this.rooms.join(roomId, opts)
    } catch (err) {
      if (err instanceof SwitchboardError && !SEND_RETRY.has(err.code)) this.rooms.leave(roomId)
      throw err
    } finally {
      this.#wake()
    }
  }

  async leave (roomId: string): Promise<void> {
    this.rooms.leave(roomId)
    if (this.socket.connected) await this.request('room:leave', { roomId })
  }

  /**
   * Sends a message; resolves with the stored message. Retries on an ack timeout, `unavailable`,
   * `rate_limited` (after `retryAfterMs`) and while the room is being rejoined, always with the
   * same `clientMsgId`, so a retry never makes a second message. Rejects with the contract's code
   * (or `timeout` after `sendTimeoutMs`).
   */
  async send (roomId: string, text: string, opts: { meta?: Record<string, unknown>, clientMsgId?: string, timeoutMs?: number } = {}): Promise<Message> {
    const payload: Payload<'message:send'> = { roomId, text, clientMsgId: opts.clientMsgId ?? randomId() }
    if (opts.meta !== undefined) payload.meta = opts.meta
    const deadline = Date.now() + (opts.timeoutMs ?? this.#sendTimeoutMs)
    for (let attempt = 1; ; attempt++) {
      await this.#whenReady(roomId, deadline)
      let error: SwitchboardError
      try {
        return (await this.request('message:send', payload, Math.min(this.#ackTimeoutMs, deadline - Date.now()))).message
      } catch (err) {
        if (!(err instanceof SwitchboardError) || !SEND_RETRY.has(err.code)) throw err
        // not_in_room is a race with a rejoin only for a room this client has joined
        if (err.code === 'not_in_room' && !this.rooms.states.has(roomId)) throw err
        error = err
      }
      const delayMs = error.code === 'rate_limited' ? (error.retryAfterMs ?? 1000) : Math.min(250 * 2 ** attempt, 5000) * (0.5 + Math.random() / 2)
      if (Date.now() + delayMs >= deadline) throw error
      this.emit('retry', { kind: 'send', code: error.code, delayMs, attempt })
      await sleep(delayMs)
    }
  }

  async history (roomId: string, q: { before?: string, after?: string, limit?: number } = {}): Promise<AckOk<'history:fetch'>> {
    return await this.request('history:fetch', { roomId, ...q })
  }

  /** Tells the room this user types; `true` at most once per `typingThrottleMs`, `false` at once. */
  typing (roomId: string, isTyping = true): void {
    const last = this.#typingSent.get(roomId)
    if (isTyping && last !== undefined && Date.now() - last < this.#typingThrottleMs) return
    if (!isTyping && last === undefined) return
    if (isTyping) this.#typingSent.set(roomId, Date.now())
    else this.#typingSent.delete(roomId)
    if (this.socket.connected) this.socket.emit('typing', { roomId, isTyping }, () => {})
  }

  async read (roomId: string, messageId: string): Promise<void> {
    await this.request('receipt:read', { roomId, messageId })
  }

  /** Follows users' presence (kept across reconnects); answers their current state. */
  async subscribe (userIds: string[]): Promise<PresenceState[]> {
    for (const u of userIds) this.#following.add(u)
    return (await this.request('presence:subscribe', { userIds })).users
  }

  async unsubscribe (userIds: string[]): Promise<void> {
    for (const u of userIds) this.#following.delete(u)
    await this.request('presence:unsubscribe', { userIds })
  }

  /** Emits an event and resolves with its `ok` answer; rejects with a `SwitchboardError`. */
  async request<E extends keyof MainEmitEvents>(event: E, payload: Payload<E>, timeoutMs = this.#ackTimeoutMs): Promise<AckOk<E>> {
    let answer: any
    try {
      answer = await (this.socket.timeout(Math.max(1, timeoutMs)) as any).emitWithAck(event, payload)
    } catch (err) {
      throw new SwitchboardError('timeout', `no answer to ${event} within ${timeoutMs} ms`, { cause: err })
    }
    if (answer?.ok === true) return answer as AckOk<E>
    throw SwitchboardError.from(answer?.error ?? { code: 'internal', message: `bad answer to ${event}` })
  }

  // ---- connection -------------------------------------------------------------------------

  #wire (): void {
    const s = this.socket
    s.on('connect', () => { this.#onConnect().catch(() => {}) })
    s.on('disconnect', (reason) => this.#onDisconnect(reason))
    s.on('connect_error', (err) => this.#onConnectError(err as Error & { data?: { retryAfterMs?: number } }))
    s.on('message:new', (m) => this.rooms.live(m))
    s.on('typing', (e) => this.emit('typing', e))
    s.on('receipt', (e) => this.emit('receipt', e))
    s.on('room:presence', (e) => this.emit('roomPresence', e))
    s.on('presence', (e) => this.emit('presence', e))
    s.on('notification', (e) => this.emit('notification', e))
    s.on('server:shutdown', (e) => { this.#shutdownSeen = true; this.emit('shutdown', e) })
    s.on('rate:limited', (e) => {
      if (e.reason === 'rate_limited') this.#farLimitedUntil = Date.now() + e.retryAfterMs
    })
    s.on('auth:expiring', (e) => { this.#refresh(e.expiresAt).catch(() => {}) })
  }

  async #open (freshToken: boolean): Promise<void> {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#setStatus(this.#status === 'idle' ? 'connecting' : 'reconnecting')
    try {
      await this.#ensureToken(freshToken)
    } catch (err) {
      this.emit('error', new SwitchboardError('token_provider_failed', `token provider failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }))
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
    this.emit('retry', { kind: 'connect', code, delayMs, attempt: this.#backoff.attempts })
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#open(freshToken).catch(() => {}) }, delayMs)
  }

  #stop (code: SwitchboardError['code'], message: string): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.socket.disconnect()
    this.#setStatus('stopped')
    this.emit('stopped', new SwitchboardError(code, message))
    this.#wake()
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
    const recovered = this.socket.recovered
    this.emit('connected', { recovered })
    if (recovered) {
      this.rooms.recovered()
      this.#wake()
      return
    }
    if (this.#following.size > 0) {
      this.request('presence:subscribe', { userIds: [...this.#following] }).catch((err) => this.emit('error', err))
    }
    await Promise.all([...this.rooms.states.keys()].map(async (roomId) => await this.#rejoin(roomId)))
  }

  async #rejoin (roomId: string): Promise<void> {
    for (let attempt = 1; this.socket.connected && this.rooms.states.has(roomId); attempt++) {
      try {
        const r = await this.rooms.join(roomId)
        this.emit('caughtUp', r)
        return
      } catch (err) {
        const e = err instanceof SwitchboardError ? err : new SwitchboardError('internal', String(err))
        this.emit('error', e)
        if (!SEND_RETRY.has(e.code)) { this.rooms.leave(roomId); return }
        const delayMs = e.code === 'rate_limited' ? (e.retryAfterMs ?? 1000) : Math.min(500 * 2 ** attempt, 10_000)
        this.emit('retry', { kind: 'join', code: e.code, delayMs, attempt })
        await sleep(delayMs)
      } finally {
        this.#wake()
      }
    }
  }

  #onDisconnect (reason: string): void {
    this.rooms.disconnected()
    this.emit('disconnected', { reason })
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
          const r = await this.request('auth:refresh', { token: this.#token as string })
          // a provider that hands back the same token must not make the server's warning loop
          this.#handledExpiry = Math.max(expiresAt, r.expiresAt)
          this.emit('tokenRefreshed', { expiresAt: r.expiresAt })
          return
        } catch (err) {
          const e = err instanceof SwitchboardError ? err : new SwitchboardError('token_provider_failed', `token provider failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
          this.emit('error', e)
          await sleep(Math.min(1000 * 2 ** attempt, 15_000) * (0.5 + Math.random() / 2))
        }
      }
    } finally {
      this.#refreshing = false
    }
  }

  // ---- waiting for the connection -----------------------------------------------------------

  #setStatus (s: Status): void {
    if (s === this.#status) return
    this.#status = s
    this.emit('status', s)
    this.#wake()
  }

  #wake (): void {
    this.#gate.open()
  }

  async #whenConnected (deadline: number): Promise<void> {
    await this.#gate.until(() => this.socket.connected, deadline, () => this.#stopped)
  }

  async #whenReady (roomId: string, deadline: number): Promise<void> {
    await this.#gate.until(() => this.socket.connected && (this.rooms.states.get(roomId)?.ready ?? true), deadline, () => this.#stopped)
  }
}

/** `createClient({ url, token })`: a connected (connecting) client. */
export function createClient (opts: ClientOptions): SwitchboardClient {
  return new SwitchboardClient(opts)
}
