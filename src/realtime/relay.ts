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
 *
 * On a Redis Cluster the feed is per room (the sharded relay, docs/scaling.md): the relay has it
 * follow a room when the room's first local member joins (the adapter's `create-room`) and
 * unfollow it when the last leaves (`delete-room`). A gap then names its rooms (those of one
 * shard whose subscription dropped): only their messages are held and only they are replayed,
 * the other rooms' messages keep flowing.
 */
import { isReservedRoom, isValidRoomId } from '../domain/rooms.js'
import type { Message } from '../schemas/common.js'
import { compareIds, parseId } from '../model/message-id.js'
import type { AppNamespace } from './types.js'
import type { Logger } from '../log.js'
import type { GapListener } from '../stores/history.js'

/** What the relay needs of the message store (the HistoryStore fits it): its feed and its reads. */
export interface MessageFeed {
  /** `relay`: this relay emits every published message; `adapter`: the Socket.IO adapter does */
  readonly delivery: 'relay' | 'adapter'
  onMessage: (listener: (message: Message) => void) => void
  /** the feed was interrupted (for `rooms`, else every room); `resumed` settles once it is live again */
  onGap: (listener: GapListener) => void
  /** a per-room feed: receive a room's messages from now on / no longer (HistoryStore.follow) */
  follow?: (roomId: string) => Promise<void>
  unfollow?: (roomId: string) => void
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
/**
 * How long a `room:join` waits for a newly followed room's subscription to be live (per-room
 * feeds). A room not live by then is reported by the feed as a gap and replayed once it is.
 */
export const JOIN_WAIT_MS = 1000

export interface Relay {
  /**
   * Settles once this instance receives the room's messages (at once where every message
   * reaches every instance), or after JOIN_WAIT_MS: `room:join` awaits it after joining and
   * before reading history with `since`, so nothing published in between is missed.
   */
  roomLive: (roomId: string) => Promise<void>
}

const LIVE: Relay = { roomLive: async () => {} }

export function startRelay (history: MessageFeed, nsp: AppNamespace, log?: Logger): Relay {
  if (history.delivery === 'adapter') return LIVE

  /** rooms with local members → the last id emitted to them */
  const last = new Map<string, string>()
  /** the highest id emitted, any room: everything published before it has arrived */
  let watermark: string | undefined
  /** while a gap is open or being replayed: what arrived for the rooms it covers, in order */
  let held: Message[] | undefined
  /** the rooms whose messages are held (until every open gap is replayed); null: every room */
  let holding: Set<string> | null = null
  let open = 0
  let resyncing = Promise.resolve()

  /** a room that receives message:new: a valid client room, not a socket's own id room */
  const isClientRoom = (room: string): boolean => isValidRoomId(room) && !isReservedRoom(room) && !nsp.sockets.has(room)

  const follow = history.follow
  const unfollow = history.unfollow
  /** per-room feed: when each followed room was first joined here (local clock, epoch ms) */
  const followedAt = new Map<string, number>()
  if (follow !== undefined) {
    nsp.adapter.on('create-room', (room: string) => {
      if (!isClientRoom(room)) return
      followedAt.set(room, Date.now())
      // the join waits for it (roomLive); one not live soon is reported by the feed as a gap
      follow.call(history, room).catch(() => {})
    })
  }
  nsp.adapter.on('delete-room', (room: string) => {
    last.delete(room)
    if (unfollow !== undefined && followedAt.delete(room)) unfollow.call(history, room)
  })

  function emit (m: Message): void {
    nsp.local.to(m.roomId).emit('message:new', m)
    if (watermark === undefined || compareIds(m.id, watermark) > 0) watermark = m.id
    if (nsp.adapter.rooms.has(m.roomId)) last.set(m.roomId, m.id)
  }

  history.onMessage((m) => {
    if (held !== undefined && (holding === null || holding.has(m.roomId))) held.push(m)
    // a room's messages arrive in id order, so one at or before the last emitted is a repeat: on
    // a Redis Cluster a replay can read a message before its PUBLISH, sent over the cluster bus
    // from the room's node, reaches this subscriber's node
    else if (!last.has(m.roomId) || compareIds(m.id, last.get(m.roomId) as string) > 0) emit(m)
  })

  history.onGap((resumed, gapRooms) => {
    open++
    // held from now on: this gap's rooms' messages (every room's when it names none)
    if (held === undefined) holding = gapRooms === undefined ? null : new Set(gapRooms)
    else if (gapRooms === undefined) holding = null
    else if (holding !== null) for (const r of gapRooms) holding.add(r)
    held ??= []
    const droppedAt = Date.now()
    // one gap at a time, in order; held messages wait until the last open gap is replayed
    resyncing = resyncing.then(async () => {
      // rooms whose subscription could not be made again: nothing more arrives for them
      const unsubscribed = (await resumed) ?? []
      const floor = Math.max(0, (watermark !== undefined ? parseId(watermark)[0] : droppedAt) - CLOCK_MARGIN_MS)
      const rooms = (gapRooms ?? [...nsp.adapter.rooms.keys()]).filter(r => nsp.adapter.rooms.has(r) && isClientRoom(r))
      // a room whose history cannot be read yet (its Redis primary is failing over) is tried
      // again for a few seconds before its clients are sent to catch up by themselves
      // a room followed after the floor (per-room feed) starts at its join: nothing before it is owed
      const from = (r: string): string => last.get(r) ?? `${Math.max(floor, (followedAt.get(r) ?? 0) - CLOCK_MARGIN_MS)}-0`
      const replayed = await Promise.all(rooms.map(async r => await retrying(async () => await replay(r, from(r)))))
      const failed = rooms.filter((r, i) => !replayed[i] || unsubscribed.includes(r))
      if (--open > 0) return
      const queue = held ?? []
      held = undefined
      holding = null
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

  if (follow === undefined) return LIVE
  return {
    roomLive: async (roomId) => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        follow.call(history, roomId).catch(() => {}),
        new Promise<void>(resolve => { timer = setTimeout(resolve, JOIN_WAIT_MS) })
      ])
      clearTimeout(timer)
    }
  }

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
