/**
 * The presence tracker: one instance's view of its own connections (SPEC §5, §6). It tells the
 * PresenceStore of every connect, disconnect, join and leave as they happen, each socket's
 * writes in the order they happened; keeps them alive with ONE heartbeat for the whole
 * instance (a pipelined rewrite of all its local entries, not a timer per socket); and runs the
 * sweeper that removes the entries of dead instances. Whatever the store failed to record
 * (Redis away) is marked dirty and rewritten on the next beat; an instance that finds it was
 * presumed dead rewrites its rooms for a few beats. Periods are options, so tests drive it.
 */
import type { BaseLogger } from 'pino'
import type { InstanceStats, PresenceStore, SweepResult } from '../stores/presence.js'
import type { Deadline } from '../deadline.js'

/** An instance that was presumed dead rewrites its rooms for this many beats (see heartbeat). */
const RESYNC_BEATS = 3
/** Most time a graceful stop waits for in-flight registry writes before removing everything. */
const STOP_WAIT_MS = 2000

export interface PresenceTrackerOptions {
  store: PresenceStore
  /** pino's log functions (a Fastify logger has them) */
  log: Pick<BaseLogger, 'error' | 'warn' | 'info'>
  /** epoch ms the instance started (for uptime) */
  startedAt?: number
  /** heartbeat period: a third of the TTL by default, so two beats may fail before expiry */
  heartbeatMs?: number
  /** how often the sweeper looks for dead instances: at most every second by default */
  sweepMs?: number
  /** told of every sweep that removed something (metrics) */
  onSwept?: (r: SweepResult) => void
  rssBytes?: () => number
}

interface Conn { userId: string, rooms: Set<string> }

export class PresenceTracker {
  readonly #onSwept: ((r: SweepResult) => void) | undefined
  readonly #store: PresenceStore
  readonly #log: PresenceTrackerOptions['log']
  readonly #startedAt: number
  readonly #heartbeatMs: number
  readonly #sweepMs: number
  readonly #rss: () => number
  /** socketId → its user and rooms */
  readonly #conns = new Map<string, Conn>()
  /** userId → local socket ids */
  readonly #users = new Map<string, Set<string>>()
  /** roomId → local socket id → userId */
  readonly #rooms = new Map<string, Map<string, string>>()
  /** per-connection queue: a connection's registry writes reach Redis in the order they happened */
  readonly #chains = new Map<string, Promise<void>>()
  readonly #dirtyUsers = new Set<string>()
  readonly #dirtyRooms = new Set<string>()
  #lastBeatUsers: string[] = []
  #resyncBeats = 0
  #beatTimer: NodeJS.Timeout | undefined
  #sweepTimer: NodeJS.Timeout | undefined
  #beating: Promise<void> | undefined
  #sweeping = false
  #stopped = false
  #failing = false

  constructor (opts: PresenceTrackerOptions) {
    this.#store = opts.store
    this.#log = opts.log
    this.#startedAt = opts.startedAt ?? Date.now()
    this.#heartbeatMs = opts.heartbeatMs ?? Math.max(100, Math.floor(opts.store.ttlMs / 3))
    this.#sweepMs = opts.sweepMs ?? Math.max(50, Math.min(1000, Math.floor(opts.store.ttlMs / 2)))
    this.#rss = opts.rssBytes ?? (() => process.memoryUsage.rss())
    this.#onSwept = opts.onSwept
  }

  get instanceId (): string {
    return this.#store.instanceId
  }

  /** First beat (so the instance is known before its first connection), then the timers. */
  async start (): Promise<void> {
    if (this.#stopped || this.#beatTimer !== undefined) return
    await this.heartbeat()
    this.#beatTimer = setInterval(() => { this.heartbeat().catch(() => {}) }, this.#heartbeatMs)
    this.#beatTimer.unref()
    this.#sweepTimer = setInterval(() => { this.sweep().catch(() => {}) }, this.#sweepMs)
    this.#sweepTimer.unref()
  }

  /** A socket of this instance connected; resolves when the registry has it (or marked it for repair). */
  async connected (socketId: string, userId: string): Promise<void> {
    if (this.#stopped || this.#conns.has(socketId)) return
    this.#conns.set(socketId, { userId, rooms: new Set() })
    let sids = this.#users.get(userId)
    if (sids === undefined) this.#users.set(userId, (sids = new Set()))
    sids.add(socketId)
    await this.#enqueue(socketId, async () => {
      await this.#store.connect(userId, socketId).catch((err: unknown) => { this.#dirtyUsers.add(userId); throw err })
    })
  }

  async disconnected (socketId: string): Promise<void> {
    const conn = this.#conns.get(socketId)
    if (conn === undefined) return
    this.#conns.delete(socketId)
    const sids = this.#users.get(conn.userId)
    sids?.delete(socketId)
    if (sids?.size === 0) this.#users.delete(conn.userId)
    for (const roomId of conn.rooms) this.#forgetMember(roomId, socketId)
    // after stop() the instance's entries are already gone
    if (this.#stopped) return
    const rooms = [...conn.rooms]
    await this.#enqueue(socketId, async () => {
      await Promise.all([
        ...rooms.map(async roomId => await this.#store.leaveRoom(roomId, conn.userId, socketId)
          .catch((err: unknown) => { this.#dirtyRooms.add(roomId); throw err })),
        this.#store.disconnect(conn.userId, socketId).catch((err: unknown) => { this.#dirtyUsers.add(conn.userId); throw err })
      ])
    })
  }

  /** `deadline`: the room:join event's (src/deadline.ts, SPEC §8), for the registry write */
  async joined (socketId: string, roomId: string, deadline?: Deadline): Promise<void> {
    const conn = this.#conns.get(socketId)
    if (conn === undefined || conn.rooms.has(roomId) || this.#stopped) return
    conn.rooms.add(roomId)
    let members = this.#rooms.get(roomId)
    if (members === undefined) this.#rooms.set(roomId, (members = new Map()))
    members.set(socketId, conn.userId)
    await this.#enqueue(socketId, async () => {
      await this.#store.joinRoom(roomId, conn.userId, socketId, deadline).catch((err: unknown) => { this.#dirtyRooms.add(roomId); throw err })
    })
  }

  async left (socketId: string, roomId: string, deadline?: Deadline): Promise<void> {
    const conn = this.#conns.get(socketId)
    if (conn === undefined || !conn.rooms.has(roomId) || this.#stopped) return
    conn.rooms.delete(roomId)
    this.#forgetMember(roomId, socketId)
    await this.#enqueue(socketId, async () => {
      await this.#store.leaveRoom(roomId, conn.userId, socketId, deadline).catch((err: unknown) => { this.#dirtyRooms.add(roomId); throw err })
    })
  }

  /** This instance's own stats entry, as it is now. */
  stats (): InstanceStats {
    return {
      id: this.#store.instanceId,
      connections: this.#conns.size,
      rooms: this.#rooms.size,
      uptimeS: Math.floor((Date.now() - this.#startedAt) / 1000),
      rssBytes: this.#rss()
    }
  }

  /**
   * One heartbeat: refreshes this instance's liveness and stats and rewrites the entries of every
   * local user (refreshing their expiry, removing any stale one of this instance, re-adding any
   * that a failed write lost), plus the rooms marked for repair — one pipeline. Never overlaps
   * itself; never throws (a failure is logged and retried on the next beat).
   */
  async heartbeat (): Promise<void> {
    if (this.#stopped) return
    if (this.#beating !== undefined) return await this.#beating
    this.#beating = this.#beat().finally(() => { this.#beating = undefined })
    return await this.#beating
  }

  /** Looks for dead instances and sweeps them (never throws). */
  async sweep (): Promise<SweepResult | undefined> {
    if (this.#stopped || this.#sweeping) return undefined
    this.#sweeping = true
    try {
      const r = await this.#store.sweep()
      if (r.instances.length > 0) {
        this.#log.info({ instances: r.instances, edges: r.edges, connections: r.connections }, 'swept the presence of dead instances')
        this.#onSwept?.(r)
      }
      this.#ok()
      return r
    } catch (err) {
      this.#fail(err)
      return undefined
    } finally {
      this.#sweeping = false
    }
  }

  /** Graceful shutdown (after the sockets are closed): stops the timers and removes every entry of this instance. */
  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#beatTimer)
    clearInterval(this.#sweepTimer)
    await this.#beating?.catch(() => {})
    await Promise.race([
      Promise.allSettled([...this.#chains.values()]),
      new Promise(resolve => setTimeout(resolve, STOP_WAIT_MS).unref())
    ])
    try {
      await this.#store.removeInstance()
    } catch (err) {
      this.#log.warn({ err: errInfo(err) }, 'could not remove this instance\'s presence; it expires by itself')
    }
  }

  async #beat (): Promise<void> {
    const local = [...this.#users.keys()]
    const dirtyUsers = [...this.#dirtyUsers]
    this.#dirtyUsers.clear()
    const dirtyRooms = [...this.#dirtyRooms]
    this.#dirtyRooms.clear()
    // users that left since the last beat are rewritten once more (with no socket), which
    // removes any entry of theirs that a lost or reordered write left behind
    const userIds = new Set([...local, ...dirtyUsers, ...this.#lastBeatUsers])
    const roomIds = new Set(dirtyRooms)
    if (this.#resyncBeats > 0) for (const r of this.#rooms.keys()) roomIds.add(r)
    const input = {
      stats: this.stats(),
      users: [...userIds].map((u): [string, string[]] => [u, [...(this.#users.get(u) ?? [])]]),
      rooms: [...roomIds].map((r): [string, Array<[string, string]>] => [r, [...(this.#rooms.get(r) ?? [])]]),
      index: { users: [...userIds], rooms: [...new Set([...this.#rooms.keys(), ...roomIds])] },
      online: local
    }
    try {
      const r = await this.#store.heartbeat(input)
      this.#lastBeatUsers = local
      if (this.#resyncBeats > 0) this.#resyncBeats--
      // others presumed this instance dead and may be sweeping its rooms right now: rewrite them
      // for a few beats, until any such sweep is surely over
      if (r.wasGone && this.#rooms.size > 0) this.#resyncBeats = RESYNC_BEATS
      this.#ok()
    } catch (err) {
      for (const u of dirtyUsers) this.#dirtyUsers.add(u)
      for (const r of dirtyRooms) this.#dirtyRooms.add(r)
      this.#lastBeatUsers = [...userIds]
      this.#fail(err)
    }
  }

  #forgetMember (roomId: string, socketId: string): void {
    const members = this.#rooms.get(roomId)
    members?.delete(socketId)
    if (members?.size === 0) this.#rooms.delete(roomId)
  }

  /** Runs `op` after the connection's earlier writes; at once (synchronously issued) when none is pending. */
  async #enqueue (socketId: string, op: () => Promise<void>): Promise<void> {
    const run = async (): Promise<void> => {
      try {
        await op()
        this.#ok()
      } catch (err) {
        this.#fail(err)
      }
    }
    const prev = this.#chains.get(socketId)
    const next = prev === undefined ? run() : prev.then(run)
    this.#chains.set(socketId, next)
    await next
    if (this.#chains.get(socketId) === next) this.#chains.delete(socketId)
  }

  #ok (): void {
    if (!this.#failing) return
    this.#failing = false
    this.#log.info({}, 'presence registry reachable again')
  }

  #fail (err: unknown): void {
    const code = (err as { code?: string }).code
    if (code === 'internal') {
      this.#log.error({ err: errInfo((err as { cause?: unknown }).cause ?? err) }, 'presence registry write failed')
      return
    }
    // one line per outage; the next heartbeat rewrites what was lost
    if (!this.#failing) this.#log.warn({ err: errInfo(err) }, 'presence registry unavailable; repairing on the next heartbeat')
    this.#failing = true
  }
}

function errInfo (err: unknown): object {
  const e = err as { message?: string, code?: string }
  return { message: e?.message, code: e?.code }
}
