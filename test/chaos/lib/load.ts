/**
 * Load clients for the chaos scenarios: the project's own client (`switchboard/client`, SPEC §9)
 * — reconnects, rejoins with `since`, merges catch-up with live messages, retries sends with the
 * same clientMsgId — one user each, one room each, all recorded in the ledger. A sender loop
 * spreads `rate` messages/s over the connected clients.
 */
import { randomUUID } from 'node:crypto'
import { createClient, type SwitchboardClient } from '../../../src/client/index.js'
import { token } from '../../helpers/tokens.js'
import { sleep } from '../../helpers/net.js'
import { Ledger } from './ledger.js'

export interface LoadOptions {
  url: string
  clients: number
  rooms: number
  /** prefix of room ids and user ids, unique per scenario */
  tag: string
  /** bytes of each message's text */
  textBytes?: number
  /** how long a send keeps retrying (same clientMsgId) before the ledger counts it as given up */
  sendTimeoutMs?: number
}

export class Load {
  readonly ledger = new Ledger()
  readonly clients: SwitchboardClient[] = []
  readonly roomIds: string[]
  readonly #opts: LoadOptions
  #sending: ReturnType<typeof setInterval> | undefined
  #inflight = new Set<Promise<void>>()
  #seq = 0

  constructor (opts: LoadOptions) {
    this.#opts = opts
    this.roomIds = Array.from({ length: opts.rooms }, (_, i) => `${opts.tag}-r${i}`)
  }

  userId (i: number): string { return `${this.#opts.tag}-u${i}` }
  roomOf (i: number): string { return this.roomIds[i % this.roomIds.length] }

  /** Connects every client (a few at a time) and joins its room. */
  async start (concurrency = 10): Promise<void> {
    const { clients, url } = this.#opts
    let next = 0
    const one = async (): Promise<void> => {
      for (let i = next++; i < clients; i = next++) {
        const room = this.roomOf(i)
        const c = createClient({
          url,
          token: token({ sub: this.userId(i) }, { ttlS: 6 * 3600 }),
          transports: ['websocket'],
          backoffMinMs: 200,
          backoffMaxMs: 3000,
          ackTimeoutMs: 4000,
          sendTimeoutMs: this.#opts.sendTimeoutMs ?? 30_000
        })
        this.clients[i] = c
        const idx = this.ledger.addClient([room], () => c.connected && (c.rooms.states.get(room)?.ready ?? false))
        c.on('message', (m) => this.ledger.deliver(idx, m))
        c.socket.on('message:new', (m) => this.ledger.raw(idx, m))
        c.on('gap', (g) => this.ledger.gap(idx, g.roomId, g.since))
        c.on('stopped', () => this.ledger.stopped(idx))
        c.on('retry', (e) => { if (e.kind === 'send') this.ledger.retry() })
        c.on('error', () => {})
        await c.join(room)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, one))
  }

  /** Sends `rate` messages/s in total from random clients until `stopSending`. */
  startSending (rate: number): void {
    const tickMs = 20
    let credit = 0
    let last = Date.now()
    const pad = 'x'.repeat(Math.max(0, (this.#opts.textBytes ?? 64) - 24))
    this.#sending = setInterval(() => {
      const now = Date.now()
      credit += (now - last) * rate / 1000
      last = now
      while (credit >= 1) {
        credit--
        const i = Math.floor(Math.random() * this.clients.length)
        const c = this.clients[i]
        if (c === undefined || c.status === 'stopped') continue
        const room = this.roomOf(i)
        const cmid = randomUUID()
        this.ledger.start(i, room, cmid)
        const p = c.send(room, `${this.#seq++} ${pad}`, { clientMsgId: cmid })
          .then(m => this.ledger.ok(cmid, m.id), (err: { code?: string }) => this.ledger.fail(cmid, err?.code ?? 'error'))
          .finally(() => this.#inflight.delete(p))
        this.#inflight.add(p)
      }
    }, tickMs)
  }

  /** Stops sending and waits until every send is settled (acked or given up). */
  async stopSending (): Promise<void> {
    clearInterval(this.#sending)
    this.#sending = undefined
    await Promise.all([...this.#inflight])
  }

  /**
   * Waits until every client is connected and has every message of its room's `history` (or the
   * timeout passes: what is missing is counted).
   */
  async settle (history: Map<string, Array<{ id: string }>>, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs
    // every id of the room's history, not a count: after Redis lost its data a client also holds
    // messages history no longer has, so a count is reached while the newest are still on the way
    const has = (i: number): boolean => {
      const got = new Set(this.ledger.received[i].msgs.map(m => m.id))
      return (history.get(this.roomOf(i)) ?? []).every(m => got.has(m.id))
    }
    while (Date.now() < end) {
      const done = this.ledger.received.every((c, i) => c.stopped || (c.connected() && has(i)))
      if (done) return
      await sleep(200)
    }
  }

  /** Connected clients (each user has one socket): the truth presence must converge to. */
  online (): boolean[] {
    return this.clients.map(c => c.connected)
  }

  close (): void {
    for (const c of this.clients) c?.close()
  }
}
