/**
 * The client's room state (SPEC §8 "No gap after a drop", §9): per joined room the last message
 * id delivered. A (re)join catches up with `since`, pages on with `history:fetch` while `hasMore`,
 * holds live `message:new` meanwhile, and then delivers both merged, in id order, each id once.
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
      s = { roomId, known: false, ready: false }
      if (opts.since !== undefined) { s.lastId = opts.since; s.known = true }
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
    for (const m of messages) {
      if (s.lastId !== undefined && compareIds(m.id, s.lastId) <= 0) {
        if (m.id !== s.pending) continue
      }
      if (s.lastId === undefined || compareIds(m.id, s.lastId) > 0) s.lastId = m.id
      s.pending = undefined
      n++
      this.deliver(m)
    }
    return n
  }
}
