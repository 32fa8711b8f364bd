/**
 * Token expiry for live sockets (SPEC §5 `auth:expiring`): one timer per instance, not one per
 * socket. Sockets are kept in one-second buckets by their warning time and their expiry time;
 * each tick handles only the buckets that are due. Times are on the clock tokens are judged on
 * (`now`: Redis' clock when Redis is configured, SPEC §8), so a socket is warned and dropped
 * when the authenticator would start refusing its token, on every instance alike.
 */
import type { AppSocket } from './types.js'

export const EXPIRY_WARNING_MS = 60_000
const TICK_MS = 250

interface Entry { socket: AppSocket, exp: number }

export class ExpiryScheduler {
  readonly #warn = new Map<number, Set<Entry>>()
  readonly #kill = new Map<number, Set<Entry>>()
  readonly #bySocket = new Map<string, Entry>()
  readonly #timer: NodeJS.Timeout
  #next: number

  /** `now`: epoch ms on the clock token times are judged on (the authenticator's) */
  constructor (private readonly onExpired: (socket: AppSocket) => void, readonly now: () => number = Date.now) {
    this.#next = Math.floor(now() / 1000)
    this.#timer = setInterval(() => this.#tick(), TICK_MS)
    this.#timer.unref()
  }

  /** (Re)schedules a socket for its token's `exp` (epoch ms). */
  track (socket: AppSocket, exp: number): void {
    this.untrack(socket)
    const entry: Entry = { socket, exp }
    this.#bySocket.set(socket.id, entry)
    const now = this.now()
    if (exp - EXPIRY_WARNING_MS <= now) {
      socket.emit('auth:expiring', { expiresAt: exp })
    } else {
      add(this.#warn, Math.floor((exp - EXPIRY_WARNING_MS) / 1000), entry)
    }
    add(this.#kill, Math.floor(exp / 1000), entry)
  }

  untrack (socket: AppSocket): void {
    const entry = this.#bySocket.get(socket.id)
    if (entry === undefined) return
    this.#bySocket.delete(socket.id)
    this.#warn.get(Math.floor((entry.exp - EXPIRY_WARNING_MS) / 1000))?.delete(entry)
    this.#kill.get(Math.floor(entry.exp / 1000))?.delete(entry)
  }

  close (): void {
    clearInterval(this.#timer)
    this.#warn.clear()
    this.#kill.clear()
    this.#bySocket.clear()
  }

  #tick (): void {
    const now = this.now()
    const upTo = Math.floor(now / 1000)
    for (let s = this.#next; s <= upTo; s++) {
      const warn = this.#warn.get(s)
      if (warn !== undefined) {
        this.#warn.delete(s)
        for (const e of warn) e.socket.emit('auth:expiring', { expiresAt: e.exp })
      }
      // a kill bucket for second s holds sockets whose exp is within [s, s+1): wait for exp itself
      const kill = this.#kill.get(s)
      if (kill !== undefined) {
        for (const e of kill) {
          if (e.exp <= now) {
            kill.delete(e)
            this.#bySocket.delete(e.socket.id)
            this.onExpired(e.socket)
          }
        }
        if (kill.size === 0) this.#kill.delete(s)
      }
    }
    // keep the current second open: its kill bucket may still hold sockets that expire later in it
    this.#next = upTo
  }
}

function add (map: Map<number, Set<Entry>>, key: number, entry: Entry): void {
  let set = map.get(key)
  if (set === undefined) map.set(key, (set = new Set()))
  set.add(entry)
}
