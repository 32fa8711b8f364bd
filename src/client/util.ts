/**
 * Small pieces of the client that need no socket: its error type, a typed event emitter that
 * runs in browsers (no node:events), exponential backoff with full jitter, message-id order.
 */
import type { ErrorCode, ErrorInfo } from './types.js'

/**
 * Codes of `SwitchboardError`: the contract's (SPEC §4) plus the client's own —
 * `timeout` (no answer in time), `token_provider_failed` (the async token provider threw or gave
 * no token), `disconnected` (the server closed the connection for good), `closed` (`close()`).
 */
export type ClientErrorCode = ErrorCode | 'timeout' | 'token_provider_failed' | 'disconnected' | 'closed'

export class SwitchboardError extends Error {
  readonly code: ClientErrorCode
  readonly retryAfterMs?: number
  readonly details?: ErrorInfo['details']

  constructor (code: ClientErrorCode, message: string, extra: { retryAfterMs?: number, details?: ErrorInfo['details'], cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause })
    this.name = 'SwitchboardError'
    this.code = code
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs
    if (extra.details !== undefined) this.details = extra.details
  }

  static from (info: ErrorInfo): SwitchboardError {
    return new SwitchboardError(info.code, info.message, { retryAfterMs: info.retryAfterMs, details: info.details })
  }
}

type Listener = (...args: any[]) => void

/** A minimal typed emitter; a listener that throws does not stop the others. */
export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  readonly #listeners = new Map<keyof Events, Set<Listener>>()

  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) this.#listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => this.off(event, listener)
  }

  off<E extends keyof Events>(event: E, listener: Events[E]): void {
    this.#listeners.get(event)?.delete(listener)
  }

  protected emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    for (const l of [...(this.#listeners.get(event) ?? [])]) {
      try {
        l(...args)
      } catch (err) {
        setTimeout(() => { throw err }) // report, like an uncaught listener error, without breaking delivery
      }
    }
  }
}

/** Exponential backoff with full jitter: attempt n waits a random time in [min, min·2ⁿ] capped at max. */
export class Backoff {
  #attempt = 0
  constructor (private readonly minMs: number, private readonly maxMs: number) {}

  next (): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.#attempt++, 30))
    return Math.round(this.minMs + Math.random() * Math.max(0, ceiling - this.minMs))
  }

  get attempts (): number { return this.#attempt }
  reset (): void { this.#attempt = 0 }
}

/** Orders message ids (`<ms>-<seq>`, SPEC §5: strictly increasing within a room). */
export function compareIds (a: string, b: string): number {
  const [am, as] = a.split('-')
  const [bm, bs] = b.split('-')
  return (Number(am) - Number(bm)) || (Number(as) - Number(bs))
}

/** A random id for `clientMsgId` (crypto.randomUUID where available: browsers in secure contexts, Node). */
export function randomId (): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (typeof c?.randomUUID === 'function') return c.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
}

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** `exp` of a JWT in epoch ms, or undefined when it cannot be read (the server decides anyway). */
export function tokenExpiry (token: string): number | undefined {
  try {
    const part = token.split('.')[1]
    const json = (globalThis as { atob: (s: string) => string }).atob(part.replace(/-/g, '+').replace(/_/g, '/'))
    const exp = (JSON.parse(json) as { exp?: unknown }).exp
    return typeof exp === 'number' ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

/** Promises waiting for a condition, woken whenever the client's state changes (and every second). */
export class Gate {
  readonly #waiters = new Set<() => void>()

  open (): void {
    for (const w of [...this.#waiters]) w()
  }

  /** Resolves once `ready()`; rejects with `closed` once `stopped()`, `timeout` at `deadline`. */
  async until (ready: () => boolean, deadline: number, stopped: () => boolean): Promise<void> {
    while (!ready()) {
      if (stopped()) throw new SwitchboardError('closed', 'the client is stopped')
      const left = deadline - Date.now()
      if (left <= 0) throw new SwitchboardError('timeout', 'not connected in time')
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(t); this.#waiters.delete(done); resolve() }
        const t = setTimeout(done, Math.min(left, 1000))
        this.#waiters.add(done)
      })
    }
  }
}
