/**
 * `switchboard/client` (SPEC §9): a thin layer over socket.io-client that does what every
 * application otherwise writes by hand — token refresh, reconnecting after the refusals
 * socket.io-client treats as final, rejoin with `since` and catch-up without gaps or duplicates,
 * idempotent send retries. Runs in browsers and Node ≥ 20; its only runtime dependency is
 * socket.io-client. The API and session restore live here, the connection and its token in
 * connection.ts, room state in rooms.ts.
 */
import type { Socket } from 'socket.io-client'
import { Connection } from './connection.js'
import { Rooms, type CatchUp } from './rooms.js'
import type { AckOk, Message, MainEmitEvents, MainListenEvents, Payload, PresenceState } from './types.js'
import type { ClientEvents, ClientOptions, Status } from './options.js'
import { Emitter, SwitchboardError, randomId, sleep } from './util.js'

export * from './types.js'
export type { ClientEvents, ClientOptions, Status, TokenSource } from './options.js'
export { SwitchboardError, compareIds, type ClientErrorCode } from './util.js'
export type { CatchUp, RoomState } from './rooms.js'

const SEND_RETRY = new Set(['timeout', 'unavailable', 'rate_limited', 'not_in_room'])

export class SwitchboardClient extends Emitter<ClientEvents> {
  readonly socket: Socket<MainListenEvents, MainEmitEvents>
  readonly rooms: Rooms
  readonly #conn: Connection
  readonly #sendTimeoutMs: number
  readonly #typingThrottleMs: number
  readonly #maxFrameBytes: number
  readonly #typingSent = new Map<string, number>()
  readonly #following = new Set<string>()

  constructor (opts: ClientOptions) {
    super()
    this.#sendTimeoutMs = opts.sendTimeoutMs ?? 30_000
    this.#typingThrottleMs = opts.typingThrottleMs ?? 2000
    this.#maxFrameBytes = opts.maxFrameBytes ?? 65_536
    this.#conn = new Connection(opts, {
      emit: (event, ...args) => this.emit(event, ...args),
      connected: async (recovered) => await this.#onConnect(recovered),
      dropped: () => this.rooms.disconnected()
    })
    this.socket = this.#conn.socket
    this.rooms = new Rooms(
      async (event, payload) => await this.request(event, payload),
      (m) => this.emit('message', m),
      (roomId, since) => this.emit('gap', { roomId, since })
    )
    const s = this.socket
    s.on('message:new', (m) => this.rooms.live(m))
    s.on('typing', (e) => this.emit('typing', e))
    s.on('receipt', (e) => this.emit('receipt', e))
    s.on('room:presence', (e) => this.emit('roomPresence', e))
    s.on('presence', (e) => this.emit('presence', e))
    s.on('notification', (e) => this.emit('notification', e))
    if (opts.autoConnect !== false) this.connect()
  }

  get status (): Status { return this.#conn.status }
  get connected (): boolean { return this.socket.connected }

  /** Starts (or restarts after `stopped`) connecting. */
  connect (): void {
    this.#conn.connect()
  }

  /** Disconnects for good; pending sends reject with `closed`. */
  close (): void {
    this.#conn.close()
  }

  /** Joins a room (remembered: rejoined after every reconnect that is not recovered). */
  async join (roomId: string, opts: { since?: string, history?: number } = {}): Promise<CatchUp> {
    await this.#conn.until(() => this.socket.connected, Date.now() + this.#sendTimeoutMs)
    try {
      return await this.rooms.join(roomId, opts)
    } catch (err) {
      if (err instanceof SwitchboardError && !SEND_RETRY.has(err.code)) this.rooms.leave(roomId)
      throw err
    } finally {
      this.#conn.wake()
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
    // a text within MESSAGE_MAX_LENGTH (grapheme clusters) can still be a frame over the limit
    const frameBytes = utf8Bytes(JSON.stringify(['message:send', payload])) + FRAME_OVERHEAD
    if (frameBytes > this.#maxFrameBytes) {
      throw new SwitchboardError('payload_too_large', `message:send would be a ${frameBytes}-byte frame, over the server's ${this.#maxFrameBytes} (MAX_FRAME_BYTES)`)
    }
    const deadline = Date.now() + (opts.timeoutMs ?? this.#sendTimeoutMs)
    for (let attempt = 1; ; attempt++) {
      await this.#conn.until(() => this.socket.connected && (this.rooms.states.get(roomId)?.ready ?? true), deadline)
      let error: SwitchboardError
      try {
        return (await this.request('message:send', payload, Math.min(this.#conn.ackTimeoutMs, deadline - Date.now()))).message
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
  async request<E extends keyof MainEmitEvents>(event: E, payload: Payload<E>, timeoutMs = this.#conn.ackTimeoutMs): Promise<AckOk<E>> {
    return await this.#conn.request(event, payload, timeoutMs)
  }

  /** Restores the session after a connect: a recovered one kept its rooms on the server. */
  async #onConnect (recovered: boolean): Promise<void> {
    if (recovered) {
      this.rooms.recovered()
      this.#conn.wake()
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
        this.#conn.wake()
      }
    }
  }
}

/** `createClient({ url, token })`: a connected (connecting) client. */
export function createClient (opts: ClientOptions): SwitchboardClient {
  return new SwitchboardClient(opts)
}

/** Socket.IO's packet type and ack id before the JSON (`42<ack id>`), with room to spare. */
const FRAME_OVERHEAD = 16

/** UTF-8 length of a string, in bytes, in browsers and Node alike. */
function utf8Bytes (s: string): number {
  return new TextEncoder().encode(s).length
}
