/**
 * Socket-side limits (SPEC §7) that do not need Redis:
 *
 * - RATE_LIMIT_EVENTS_PER_MINUTE per connection (every event but `message:send`, which has its
 *   per-user limit in the message service). A connection lives on one instance, so its counter
 *   is in-process: a sliding window kept per socket in a WeakMap (gone with the socket), no
 *   timers. Checked synchronously, in a `socket.use` middleware, before the event's handler runs.
 * - "A client far over its limit (10× for 10 s) is disconnected with reason rate_limited":
 *   every refusal of a connection (its events, its sends) is counted in a 10 s sliding window;
 *   when the refusals of one limit pass 10× what that limit allows in 10 s, the socket gets a
 *   last `rate:limited { event, retryAfterMs, reason: 'rate_limited' }` and is disconnected.
 *
 * The per-IP connection limit is counted per Engine.IO session (src/realtime/transport-guard.ts).
 */
import { appError } from '../errors.js'
import { hitWindow, newWindow, type WindowRule, type WindowState } from '../model/rate-window.js'
import type { AppSocket } from './types.js'

/** SPEC §7: "far over" is 10× the limit, sustained over 10 s */
export const FAR_OVER_FACTOR = 10
export const FAR_OVER_WINDOW_MS = 10_000

export type SocketLimitKind = 'event' | 'send'

interface ConnState {
  events: WindowState
  refusedEvents: WindowState | undefined
  refusedSends: WindowState | undefined
}

export interface SocketLimitsOptions {
  /** RATE_LIMIT_EVENTS_PER_MINUTE; 0 switches the per-connection limit off */
  eventsPerMinute: number
  /** RATE_LIMIT_SEND_PER_SECOND: what a connection may send, for the far-over threshold of sends */
  sendPerSecond: number
  now?: () => number
  /** an event was refused by the per-connection limit (metrics) */
  onRefused?: () => void
  /** a socket is being disconnected for being far over a limit (metrics, log) */
  onFarOver?: (socket: AppSocket, kind: SocketLimitKind, threshold: number) => void
}

export class SocketLimits {
  readonly #state = new WeakMap<AppSocket, ConnState>()
  readonly #events: WindowRule | undefined
  readonly #farOver: Record<SocketLimitKind, WindowRule | undefined>
  readonly #now: () => number
  readonly #opts: SocketLimitsOptions

  constructor (opts: SocketLimitsOptions) {
    this.#opts = opts
    this.#now = opts.now ?? Date.now
    this.#events = opts.eventsPerMinute > 0 ? { limit: opts.eventsPerMinute, windowMs: 60_000 } : undefined
    // refusals allowed in 10 s before a disconnect: 10× what the limit lets through in 10 s
    const threshold = (perSecond: number): WindowRule | undefined => perSecond > 0
      ? { limit: Math.max(1, Math.ceil(FAR_OVER_FACTOR * perSecond * FAR_OVER_WINDOW_MS / 1000)), windowMs: FAR_OVER_WINDOW_MS }
      : undefined
    this.#farOver = {
      event: threshold(opts.eventsPerMinute / 60),
      send: threshold(opts.sendPerSecond)
    }
  }

  #conn (socket: AppSocket): ConnState {
    let s = this.#state.get(socket)
    if (s === undefined) {
      s = { events: newWindow(), refusedEvents: undefined, refusedSends: undefined }
      this.#state.set(socket, s)
    }
    return s
  }

  /** Counts one event of the connection; the wait in ms when it is over RATE_LIMIT_EVENTS_PER_MINUTE, else 0. */
  #hit (socket: AppSocket): number {
    if (this.#events === undefined) return 0
    const wait = hitWindow(this.#conn(socket).events, this.#events, this.#now())
    if (wait > 0) this.#opts.onRefused?.()
    return wait
  }

  /**
   * The per-event limit as a Socket.IO packet middleware (`socket.use`), which sees every event
   * a client sends, known or not. `message:send` is left to its per-user limit. A known event over
   * the limit is answered `rate_limited` through `refuse` (the handler wrapper's answer, as if its
   * handler had thrown); an unknown one (already answered `not_found` by the connection's
   * catch-all) still counts, so flooding with unknown events ends the same way. Either way the
   * refusal is reported to `refused` (the `rate:limited` event, the far-over disconnect).
   */
  use (socket: AppSocket, opts: { isKnown: (event: string) => boolean, countUnknown: boolean, refuse: (socket: AppSocket, packet: unknown[], err: unknown) => void }): void {
    if (this.#events === undefined) return
    socket.use((packet, next) => {
      const event = String(packet[0])
      const known = opts.isKnown(event)
      const wait = event === 'message:send' || (!known && !opts.countUnknown) ? 0 : this.#hit(socket)
      if (wait === 0) return next()
      const err = appError('rate_limited', `too many events on this connection; retry in ${wait} ms`, { retryAfterMs: wait })
      if (known) opts.refuse(socket, packet, err)
      else this.refused(socket, event, err.retryAfterMs ?? 0)
    })
  }

  /**
   * Told of every refusal for rate on a socket (the handler wrapper's onError): tells the
   * client with `rate:limited`, and disconnects it when it is far over the limit.
   */
  refused (socket: AppSocket, event: string, retryAfterMs: number): void {
    if (!socket.connected) return
    const kind: SocketLimitKind = event === 'message:send' ? 'send' : 'event'
    const rule = this.#farOver[kind]
    if (rule !== undefined) {
      const s = this.#conn(socket)
      const w = kind === 'send' ? (s.refusedSends ??= newWindow()) : (s.refusedEvents ??= newWindow())
      if (hitWindow(w, rule, this.#now()) > 0) {
        this.#opts.onFarOver?.(socket, kind, rule.limit)
        // the reason travels in the last event: a server-side disconnect always reaches the
        // client as 'io server disconnect' (and socket.io-client does not reconnect by itself)
        socket.emit('rate:limited', { event, retryAfterMs: Math.max(retryAfterMs, FAR_OVER_WINDOW_MS), reason: 'rate_limited' })
        socket.disconnect(true)
        return
      }
    }
    socket.emit('rate:limited', { event, retryAfterMs })
  }
}

/** What a limiter may wait for Redis (ms) before letting the request or connection through. */
export const LIMITER_BUDGET_MS = 500
