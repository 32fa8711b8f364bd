/**
 * The ledger (issue #17): what the load clients were told and what they saw, compared after a
 * scenario with the rooms' history (SPEC §8). Every message is known by its `clientMsgId`, which
 * the sender chose, so a retried send, a duplicate in history or a duplicate delivery is visible.
 *
 * Counted: acked but missing in history; in history but never acked (split by the last answer
 * the sender got — after `unavailable` nothing may have been written); duplicates by clientMsgId
 * in history and at clients; out-of-order deliveries; for every client, history messages it never
 * got, and acked messages it never got without being told (`recovered: false`) — a silent gap;
 * every `recovered: false` answer, and whether it was honest (an acked message after its `since`
 * really was missing from history).
 */
import { compareIds } from '../../../src/client/index.js'

export interface Msg { id: string, roomId: string, clientMsgId?: string, text: string, at: number }

export interface Sent {
  cmid: string
  room: string
  /** index of the load client; -1 for a probe (one attempt, no retry) */
  client: number
  t0: number
  /** set once the send is settled */
  t1?: number
  /** the stored message's id when acked `ok` */
  id?: string
  /** the final error code when the sender gave up */
  code?: string
}

export interface Gap { client: number, room: string, since: string, t: number }

export interface Analysis {
  sent: number
  acked: number
  gaveUp: Record<string, number>
  historyCount: number
  ackedMissingHistory: number
  /** acked with one id, in history with another (or twice): idempotency broken */
  ackedIdMismatch: number
  historyDuplicates: number
  /** a probe's send (one attempt) answered `unavailable`, yet in history: a half-written send */
  halfWritten: number
  /** a load client's send in history, never acked (some attempt's outcome was unknown to it) */
  unackedInHistory: number
  historyOutOfOrder: number
  clients: number
  clientsGaveUp: number
  /** history messages a client joined to the room never received (after catch-up) */
  missingAtClients: number
  /** acked messages absent from history and from a client that was never told (recovered: false) */
  silentGaps: number
  clientDuplicates: number
  clientOutOfOrder: number
  /** live `message:new` on a socket with an id not above the previous one of its room (the client drops those it already has) */
  rawOutOfOrder: number
  /** deliveries of a message nobody sent (unknown clientMsgId) */
  foreignDeliveries: number
  recoveredFalse: number
  recoveredFalseHonest: number
  /** up to 5 examples of each nonzero failure count */
  examples: Record<string, string[]>
}

export class Ledger {
  readonly sent = new Map<string, Sent>()
  /** per client: its rooms, what it was delivered (in order), and whether it gave up */
  readonly received: Array<{ rooms: Set<string>, msgs: Msg[], stopped: boolean, connected: () => boolean, rawLast: Map<string, string>, rawOutOfOrder: number }> = []
  readonly gaps: Gap[] = []
  /** per-second timeline: sends started, acked, retried (by code), delivered */
  readonly timeline = new Map<number, { sent: number, acked: number, errors: number, delivered: number }>()
  readonly t0 = Date.now()

  #tick (field: 'sent' | 'acked' | 'errors' | 'delivered', n = 1): void {
    const s = Math.floor((Date.now() - this.t0) / 1000)
    let b = this.timeline.get(s)
    if (b === undefined) { b = { sent: 0, acked: 0, errors: 0, delivered: 0 }; this.timeline.set(s, b) }
    b[field] += n
  }

  addClient (rooms: string[], connected: () => boolean): number {
    this.received.push({ rooms: new Set(rooms), msgs: [], stopped: false, connected, rawLast: new Map(), rawOutOfOrder: 0 })
    return this.received.length - 1
  }

  start (client: number, room: string, cmid: string): void {
    this.sent.set(cmid, { cmid, room, client, t0: Date.now() })
    this.#tick('sent')
  }

  ok (cmid: string, id: string): void {
    const s = this.sent.get(cmid)
    if (s === undefined) return
    s.id = id
    s.t1 = Date.now()
    this.#tick('acked')
  }

  fail (cmid: string, code: string): void {
    const s = this.sent.get(cmid)
    if (s === undefined) return
    s.code = code
    s.t1 = Date.now()
  }

  retry (): void { this.#tick('errors') }

  deliver (client: number, m: Msg): void {
    this.received[client].msgs.push(m)
    this.#tick('delivered')
  }

  /** A `message:new` as the socket got it (before the client's merge): counts live reordering. */
  raw (client: number, m: { id: string, roomId: string }): void {
    const c = this.received[client]
    const prev = c.rawLast.get(m.roomId)
    if (prev !== undefined && compareIds(prev, m.id) >= 0) c.rawOutOfOrder++
    c.rawLast.set(m.roomId, m.id)
  }

  gap (client: number, room: string, since: string): void {
    this.gaps.push({ client, room, since, t: Date.now() })
  }

  stopped (client: number): void { this.received[client].stopped = true }

  pending (): number {
    let n = 0
    for (const s of this.sent.values()) if (s.t1 === undefined) n++
    return n
  }

  /** Compares the ledger with `history` (every message of every room the load used, oldest first). */
  analyse (history: Map<string, Msg[]>): Analysis {
    const ex: Record<string, string[]> = {}
    const note = (k: string, v: string): void => { (ex[k] ??= []).length < 5 && ex[k].push(v) }
    const a: Analysis = {
      sent: this.sent.size,
      acked: 0,
      gaveUp: {},
      historyCount: 0,
      ackedMissingHistory: 0,
      ackedIdMismatch: 0,
      historyDuplicates: 0,
      halfWritten: 0,
      unackedInHistory: 0,
      historyOutOfOrder: 0,
      clients: this.received.length,
      clientsGaveUp: 0,
      missingAtClients: 0,
      silentGaps: 0,
      clientDuplicates: 0,
      clientOutOfOrder: 0,
      rawOutOfOrder: this.received.reduce((n, c) => n + c.rawOutOfOrder, 0),
      foreignDeliveries: 0,
      recoveredFalse: this.gaps.length,
      recoveredFalseHonest: 0,
      examples: ex
    }
    // history: by clientMsgId, order, duplicates
    const byCmid = new Map<string, Msg>()
    const historyIds = new Map<string, Set<string>>()
    for (const [room, msgs] of history) {
      a.historyCount += msgs.length
      const ids = new Set<string>()
      historyIds.set(room, ids)
      for (let i = 0; i < msgs.length; i++) {
        const m = msgs[i]
        ids.add(m.id)
        if (i > 0 && compareIds(msgs[i - 1].id, m.id) >= 0) { a.historyOutOfOrder++; note('historyOutOfOrder', `${room} ${msgs[i - 1].id} then ${m.id}`) }
        if (m.clientMsgId === undefined) continue
        if (byCmid.has(m.clientMsgId)) { a.historyDuplicates++; note('historyDuplicates', `${room} ${m.clientMsgId}`) } else byCmid.set(m.clientMsgId, m)
      }
    }
    /** acked messages lost from history, per room, by id */
    const lost = new Map<string, string[]>()
    for (const s of this.sent.values()) {
      const h = byCmid.get(s.cmid)
      if (s.id !== undefined) {
        a.acked++
        if (h === undefined) {
          a.ackedMissingHistory++
          note('ackedMissingHistory', `${s.room} ${s.id} ${s.cmid}`)
          const l = lost.get(s.room) ?? []
          l.push(s.id)
          lost.set(s.room, l)
        } else if (h.id !== s.id) { a.ackedIdMismatch++; note('ackedIdMismatch', `${s.cmid}: acked ${s.id}, history ${h.id}`) }
      } else {
        const code = s.code ?? 'pending'
        // probes (client -1) send once without retrying: their refusals are expected, not given up
        if (s.client >= 0) a.gaveUp[code] = (a.gaveUp[code] ?? 0) + 1
        if (h !== undefined) {
          // only a single attempt's answer is known to belong to what was written: a load client's
          // earlier attempt may have timed out after writing, before a later one was refused
          if (code === 'unavailable' && s.client < 0) { a.halfWritten++; note('halfWritten', `${s.room} ${h.id} ${s.cmid}`) } else a.unackedInHistory++
        }
      }
    }
    // honesty of every recovered: false
    for (const g of this.gaps) {
      if ((lost.get(g.room) ?? []).some(id => compareIds(id, g.since) > 0)) a.recoveredFalseHonest++
    }
    // clients: everything in their rooms' history, once, in order
    this.received.forEach((c, idx) => {
      if (c.stopped || !c.connected()) { a.clientsGaveUp++; note('clientsGaveUp', `client ${idx}${c.stopped ? ' stopped' : ' not connected'}`) }
      const got = new Map<string, Set<string>>()
      const lastId = new Map<string, string>()
      const seen = new Set<string>()
      for (const m of c.msgs) {
        const key = m.clientMsgId ?? m.id
        if (seen.has(key)) { a.clientDuplicates++; note('clientDuplicates', `client ${idx} ${m.roomId} ${key}`) }
        seen.add(key)
        if (m.clientMsgId !== undefined && !this.sent.has(m.clientMsgId)) { a.foreignDeliveries++; note('foreignDeliveries', `client ${idx} ${m.id}`) }
        const prev = lastId.get(m.roomId)
        if (prev !== undefined && compareIds(prev, m.id) >= 0) { a.clientOutOfOrder++; note('clientOutOfOrder', `client ${idx} ${m.roomId} ${prev} then ${m.id}`) }
        lastId.set(m.roomId, m.id)
        const r = got.get(m.roomId) ?? new Set<string>()
        r.add(m.id)
        got.set(m.roomId, r)
      }
      for (const room of c.rooms) {
        const mine = got.get(room) ?? new Set<string>()
        for (const id of historyIds.get(room) ?? []) {
          if (!mine.has(id)) { a.missingAtClients++; note('missingAtClients', `client ${idx} ${room} ${id}`) }
        }
        const told = this.gaps.filter(g => g.client === idx && g.room === room)
        for (const id of lost.get(room) ?? []) {
          if (mine.has(id)) continue
          if (!told.some(g => compareIds(id, g.since) > 0)) { a.silentGaps++; note('silentGaps', `client ${idx} ${room} ${id}`) }
        }
      }
    })
    return a
  }
}
