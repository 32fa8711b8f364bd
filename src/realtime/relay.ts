/**
 * The broadcast step of the message path: every message the HistoryStore publishes (from any
 * instance, in history order) is emitted to this instance's sockets in its room. `local`
 * because every instance relays for itself; going through the adapter again would deliver
 * each message once per instance.
 *
 * With `delivery: 'adapter'` (redis-streams) the store's append already hands each message to
 * the Socket.IO adapter, which emits it on every instance (and can replay it to a recovered
 * socket); relaying as well would deliver it twice, so the relay stands down.
 *
 * A gap in the store's publication (its Redis subscription dropped: a network blip, a Redis
 * restart, a slow subscriber killed by Redis' output buffer limit) would otherwise be silent,
 * since the sockets stay connected. So the relay keeps, for each room with local members, the
 * last id it emitted there; when the subscription drops it holds what arrives, and when it is
 * live again it reads each such room's history after that id, emits what was missed, then what
 * it held (skipping what the replay already emitted): the sockets see every message once, in
 * order. A room it cannot replay (history unreachable for REPLAY_RETRY_MS, as while a Redis
 * primary fails over, or more than REPLAY_MAX missed) has its
 * sockets' transports closed instead, so their clients reconnect and rejoin with `since`.
 */
import { isReservedRoom, isValidRoomId } from '../domain/rooms.js'
import type { Message } from '../schemas/common.js'
import { compareIds, parseId } from '../model/message-id.js'
import type { AppNamespace } from './types.js'
import type { Logger } from '../log.js'

/** What the relay needs of the message store (the HistoryStore fits it): its feed and its reads. */
export interface MessageFeed {
  /** `relay`: this relay emits every published message; `adapter`: the Socket.IO adapter does */
  readonly delivery: 'relay' | 'adapter'
  onMessage: (listener: (message: Message) => void) => void
  /** the feed was interrupted; `resumed` settles once it is live again */
  onGap: (listener: (resumed: Promise<void>) => void) => void
  range: (roomId: string, query: { after: string, limit: number }) => Promise<{ messages: Message[], hasMore: boolean }>
}

/** most messages replayed into one room after a gap; past it the room's clients resync */
export const REPLAY_MAX = 1000
const PAGE = 100
/** how long a replay is retried while history is unreachable (a Redis failover takes seconds) */
const REPLAY_RETRY_MS = 5000
/**
 * For a room with local members but no message emitted since they came: replay from this long
 * before the last id emitted anywhere. Ids come from Redis' clock, but in a cluster from several
 * nodes' clocks; at worst a member sees a message from just before it joined, never a gap.
 */
const CLOCK_MARGIN_MS = 1000

export function startRelay (history: MessageFeed, nsp: AppNamespace, log?: Logger): void {
  if (history.delivery === 'adapter') return

  /** rooms with local members → the last id emitted to them */
  const last = new Map<string, string>()
  /** the highest id emitted, any room: everything published before it has arrived */
  let watermark: string | undefined
  /** while a gap is open or being replayed: what arrived, in order */
  let held: Message[] | undefined
  let open = 0
  let resyncing = Promise.resolve()

  nsp.adapter.on('delete-room', (room: string) => { last.delete(room) })

  function emit (m: Message): void {
    nsp.local.to(m.roomId).emit('message:new', m)
    if (watermark === undefined || compareIds(m.id, watermark) > 0) watermark = m.id
    if (nsp.adapter.rooms.has(m.roomId)) last.set(m.roomId, m.id)
  }

  history.onMessage((m) => {
    if (held !== undefined) held.push(m)
    // a room's messages arrive in id order, so one at or before the last emitted is a repeat: on
    // a Redis Cluster a replay can read a message before its PUBLISH, sent over the cluster bus
    // from the room's node, reaches this subscriber's node
    else if (!last.has(m.roomId) || compareIds(m.id, last.get(m.roomId) as string) > 0) emit(m)
  })

  history.onGap((resumed) => {
    open++
    held ??= []
    const droppedAt = Date.now()
    // one gap at a time, in order; held messages wait until the last open gap is replayed
    resyncing = resyncing.then(async () => {
      await resumed
      const floor = Math.max(0, (watermark !== undefined ? parseId(watermark)[0] : droppedAt) - CLOCK_MARGIN_MS)
      const rooms = [...nsp.adapter.rooms.keys()].filter(r => isValidRoomId(r) && !isReservedRoom(r) && !nsp.sockets.has(r))
      // a room whose history cannot be read yet (its Redis primary is failing over) is tried
      // again for a few seconds before its clients are sent to catch up by themselves
      const replayed = await Promise.all(rooms.map(async r => await retrying(async () => await replay(r, last.get(r) ?? `${floor}-0`))))
      const failed = rooms.filter((_, i) => !replayed[i])
      if (--open > 0) return
      const queue = held ?? []
      held = undefined
      // a room that could not be replayed gets none of what was held: its clients are sent to
      // catch up with `since` = the last id they saw, and a newer held message would have moved
      // that past the gap, which they would then never see (found by the chaos suite, F5)
      const unreplayed = new Set(failed)
      for (const m of queue) {
        if (unreplayed.has(m.roomId)) continue
        const seen = last.get(m.roomId)
        if (seen === undefined || compareIds(m.id, seen) > 0) emit(m)
      }
      if (failed.length > 0) {
        log?.warn({ rooms: failed.length }, 'message relay gap could not be replayed; those rooms\' clients reconnect and catch up with since')
        for (const r of failed) {
          for (const id of nsp.adapter.rooms.get(r) ?? []) nsp.sockets.get(id)?.conn.close()
        }
      }
    }).catch(() => {})
  })

  /** Runs a replay again while history is unreachable, for at most REPLAY_RETRY_MS. */
  async function retrying (run: () => Promise<boolean | 'unreachable'>): Promise<boolean> {
    const end = Date.now() + REPLAY_RETRY_MS
    for (;;) {
      const r = await run()
      if (r !== 'unreachable') return r
      if (Date.now() >= end) return false
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }

  /**
   * Emits a room's messages after `after` from history; false when there are too many (then
   * resync), 'unreachable' when history cannot be read (what was emitted is in `last`).
   */
  async function replay (roomId: string, after: string): Promise<boolean | 'unreachable'> {
    try {
      let from = after
      for (let sent = 0; sent < REPLAY_MAX; sent += PAGE) {
        const page = await history.range(roomId, { after: from, limit: PAGE })
        for (const m of page.messages) emit(m)
        if (!page.hasMore) return true
        from = page.messages[page.messages.length - 1].id
      }
      return false
    } catch {
      return 'unreachable'
    }
  }
}
