/**
 * The client's room state (SPEC §8 "No gap after a drop", §9): per joined room the last message
 * id delivered. A (re)join catches up with `since`, pages on with `history:fetch` while `hasMore`,
 * holds live `message:new` meanwhile, and then delivers both merged, in id order, each id once.
 *
 * A live message below the last id delivered is a duplicate only if it was delivered: the
 * client remembers the last RECENT ids it delivered per room. One it never delivered (it came
 * late: the server sent it after a newer one) is delivered late rather than dropped, and the
 * room's history between the delivered id before it and the newest is read once
 * (`history:fetch` with `after`) to deliver anything else that went missing with it — late
 * delivery is out of id order, silent loss is worse (RELIABILITY.md, F5).
 */
import type { AckOk, Message, Payload } from './types.js'
import { compareIds } from './util.js'

/** The room's state; `lastId` can be persisted by the app and passed back as `join(id, { since })`. */
export interface RoomState {
  roomId: string
  /** the newest id delivered (or, before any, the room's newest when it was joined) */
  lastId?: string
  /** an id that is the position but was not delivered (join without history): delivered if it arrives live */
  pending?: string
  /** true once a join answered; a rejoin of a room that was empty then asks `since: '0-0'` */
  known: boolean
  /** joined on the current connection and caught up */
  ready: boolean
  /** live messages held while a (re)join catches up */
  buffer?: Message[]
  /** ids at or below this were never to be delivered (the position a join started from) */
  floor?: string
  /** the last RECENT ids delivered, ascending: what a late id is checked against */
  recent: string[]
  /** a fill of the history around a late message is running */
  filling?: Promise<void>
}

export interface CatchUp {
  roomId: string
  /** messages delivered by this (re)join */
  count: number
  /** false when messages after the last id seen may be lost (a gap) */
  recovered: boolean
}

type Request = <E extends 'room:join' | 'history:fetch'>(event: E, payload: Payload<E>) => Promise<AckOk<E>>

const PAGE = 100
/** delivered ids remembered per room to tell a late message from a duplicate */
export const RECENT = 512
/** most pages one fill reads after a late message */
const FILL_PAGES = 10
/** a room that was empty when joined has no position: everything in history is newer */
const ORIGIN = '0-0'

export class Rooms {
  readonly states = new Map<string, RoomState>()

  constructor (
    private readonly request: Request,
    private readonly deliver: (m: Message) => void,
    private readonly onGap: (roomId: string, since: string) => void
  ) {}

  /** (Re)joins a room and catches up; `history` = newest messages to deliver on a first join. */
  async join (roomId: string, opts: { since?: string, history?: number } = {}): Promise<CatchUp> {
    let s = this.states.get(roomId)
    if (s === undefined) {
      s = { roomId, known: false, ready: false, recent: [] }
      if (opts.since !== undefined) { s.lastId = s.floor = opts.since; s.known = true }
      this.states.set(roomId, s)
    }
    s.ready = false
    s.buffer = []
    let count = 0
    let recovered = true
    try {
      const since = s.lastId ?? (s.known ? ORIGIN : undefined)
      const res = await this.request('room:join', since === undefined ? { roomId } : { roomId, since })
      const caught: Message[] = []
      if (since !== undefined) {
        caught.push(...(res.missed ?? []))
        let more = res.hasMore === true
        while (more) {
          const after = caught.length > 0 ? caught[caught.length - 1].id : since
          const page = await this.request('history:fetch', { roomId, after, limit: PAGE })
          caught.push(...page.messages)
          more = page.hasMore && page.messages.length > 0
        }
        // a room that was empty at its first join has nothing to lose: no gap to report
        if (res.recovered === false && since !== ORIGIN) {
          recovered = false
          this.onGap(roomId, since)
        }
      } else {
        const history = Math.max(0, Math.min(PAGE, opts.history ?? 0))
        const page = await this.request('history:fetch', { roomId, limit: Math.max(1, history) })
        if (history > 0) caught.push(...page.messages)
        else if (page.messages.length > 0) s.lastId = s.pending = page.messages[page.messages.length - 1].id
        s.floor = s.lastId
      }
      s.known = true
      count = this.#deliver(s, caught)
    } finally {
      const held = s.buffer ?? []
      s.buffer = undefined
      count += this.#deliver(s, held)
    }
    s.ready = true
    return { roomId, count, recovered }
  }

  /** A live `message:new`: held while its room catches up, else delivered if newer. */
  live (m: Message): void {
    const s = this.states.get(m.roomId)
    if (s === undefined) return
    if (s.buffer !== undefined) s.buffer.push(m)
    else this.#deliver(s, [m])
  }

  leave (roomId: string): void {
    this.states.delete(roomId)
  }

  /** The connection went: every room must be rejoined (unless the session is recovered). */
  disconnected (): void {
    for (const s of this.states.values()) s.ready = false
  }

  /** A recovered session kept its rooms on the server. */
  recovered (): void {
    for (const s of this.states.values()) if (s.buffer === undefined) s.ready = true
  }

  #deliver (s: RoomState, messages: Message[]): number {
    if (messages.length > 1) messages.sort((a, b) => compareIds(a.id, b.id))
    let n = 0
    let late: Message | undefined
    for (const m of messages) {
      if (s.lastId !== undefined && compareIds(m.id, s.lastId) <= 0 && m.id !== s.pending) {
        if (!this.#unseen(s, m.id)) continue
        late ??= m
      }
      if (s.lastId === undefined || compareIds(m.id, s.lastId) > 0) s.lastId = m.id
      s.pending = undefined
      remember(s.recent, m.id)
      n++
      this.deliver(m)
    }
    if (late !== undefined) this.#fill(s, late.id)
    return n
  }

  /** A message at or below the last delivered id that was never delivered (it came late). */
  #unseen (s: RoomState, id: string): boolean {
    if (s.floor !== undefined && compareIds(id, s.floor) <= 0) return false
    const r = s.recent
    // with RECENT ids remembered, one older than all of them cannot be told from a duplicate
    if (r.length >= RECENT && compareIds(id, r[0]) < 0) return false
    return indexOf(r, id) < 0
  }

  /**
   * After a late message: reads the room's history from the delivered id before it up to the
   * newest delivered, and delivers what is there and was never delivered. One fill at a time
   * per room; a failed read is left to the next rejoin (the app was given what arrived).
   */
  #fill (s: RoomState, lateId: string): void {
    const upTo = s.lastId
    if (upTo === undefined) return
    const before = s.recent.filter((id) => compareIds(id, lateId) < 0)
    const from = before.length > 0 ? before[before.length - 1] : s.floor
    if (from === undefined) return
    const run = async (): Promise<void> => {
      let after = from
      for (let i = 0; i < FILL_PAGES; i++) {
        const page = await this.request('history:fetch', { roomId: s.roomId, after, limit: PAGE })
        const missed = page.messages.filter((m) => compareIds(m.id, upTo) <= 0 && this.#unseen(s, m.id))
        for (const m of missed) { remember(s.recent, m.id); this.deliver(m) }
        const last = page.messages[page.messages.length - 1]
        if (!page.hasMore || last === undefined || compareIds(last.id, upTo) >= 0) return
        after = last.id
      }
    }
    s.filling = (s.filling ?? Promise.resolve()).then(run).catch(() => {})
  }
}

/** Adds an id to an ascending list of at most RECENT (usually at the end: ids mostly arrive in order). */
function remember (recent: string[], id: string): void {
  let i = recent.length
  while (i > 0 && compareIds(recent[i - 1], id) > 0) i--
  if (i > 0 && recent[i - 1] === id) return
  recent.splice(i, 0, id)
  if (recent.length > RECENT) recent.shift()
}

/** Binary search in an ascending id list; -1 when absent. */
function indexOf (recent: string[], id: string): number {
  let lo = 0
  let hi = recent.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const c = compareIds(recent[mid], id)
    if (c === 0) return mid
    if (c < 0) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}
