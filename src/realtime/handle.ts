/**
 * Wraps a socket event handler so that every event follows SPEC §4: the payload is validated
 * with a compiled schema, the answer is `{ ok: true, ... }` or `{ ok: false, error }`, an event
 * without an ack callback is handled the same way (its answer is dropped), and nothing a client
 * sends can throw out of the handler and crash the instance.
 */
import { toAck, normalizeError } from '../errors.js'
import type { Validator } from '../schemas/validate.js'
import type { AppSocket } from './types.js'
import { REDIS_BUDGET_MS, runWithDeadline } from '../deadline.js'
import type { EventInstrument } from '../metrics/families.js'

export interface Logger {
  error: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  info: (obj: object | string, msg?: string) => void
  debug: (obj: object, msg: string) => void
}

/** Checks run before every event (rate limits); they throw a catalog error to refuse it. */
export type EventGuard = (socket: AppSocket, event: string) => void

type AckFn = (answer: unknown) => void

/** A handler: the socket that sent the event and its validated payload; returns the ack's fields. */
export type SocketHandler<T> = (socket: AppSocket, payload: T) => Promise<object | undefined> | object | undefined

/**
 * A listener shared by every socket: Socket.IO calls it with `this` = the socket, so one
 * function serves all connections and a connection costs no closure per event.
 */
export type SharedListener = (this: AppSocket, ...args: unknown[]) => void

export interface HandlerOptions {
  /** checks run before every event (rate limits); they throw a catalog error to refuse it */
  guard?: EventGuard
  /** told of every refusal (after the guard or the handler threw), e.g. to report rate limits */
  onError?: (socket: AppSocket, event: string, err: unknown) => void
  /** the metrics of one event (SPEC §6: result and duration), bound once per event when it is defined */
  instrument?: (event: string) => EventInstrument
}

export function createHandlers (log: Logger, opts: HandlerOptions = {}) {
  const { guard, onError, instrument } = opts

  function ok (ack: AckFn | undefined, value: object | undefined, ins: EventInstrument | undefined, start: number): void {
    ins?.done('ok', start)
    if (ack !== undefined) ack(value === undefined ? { ok: true } : { ok: true, ...value })
  }

  function fail (socket: AppSocket, event: string, ack: AckFn | undefined, err: unknown, ins: EventInstrument | undefined, start: number): void {
    onError?.(socket, event, err)
    const e = normalizeError(err)
    ins?.done(e.code, start)
    if (e.code === 'internal') log.error({ err: e.cause ?? err, event, sid: socket.id }, 'socket handler failed')
    if (ack !== undefined) ack(toAck(e))
  }

  /** Defines the shared listener of one event; attach it with `listen(socket, event, listener)`. */
  return function define<T> (event: string, validate: Validator<T>, fn: SocketHandler<T>): SharedListener {
    const ins = instrument?.(event)
    return function listener (this: AppSocket, ...args: unknown[]): void {
      const socket = this
      const start = ins !== undefined ? performance.now() : 0
      // socket.io passes the ack as the last argument; `emit(event, ack)` has no payload at all
      const last = args[args.length - 1]
      const ack: AckFn | undefined = typeof last === 'function' ? last as AckFn : undefined
      const payload = ack !== undefined && args.length === 1 ? undefined : args[0]
      let result: Promise<object | undefined> | object | undefined
      try {
        guard?.(socket, event)
        // one deadline for every Redis call the event makes (SPEC §8)
        result = runWithDeadline(REDIS_BUDGET_MS, () => fn(socket, validate(payload)))
      } catch (err) {
        fail(socket, event, ack, err, ins, start)
        return
      }
      if (result instanceof Promise) {
        result.then((value) => ok(ack, value, ins, start), (err: unknown) => fail(socket, event, ack, err, ins, start))
      } else {
        ok(ack, result, ins, start)
      }
    }
  }
}

export type Define = ReturnType<typeof createHandlers>

/** Attaches a shared listener to a socket (Socket.IO's typed `on` does not know `this`). */
export function listen (socket: AppSocket, event: string, listener: SharedListener | ((this: AppSocket, ...args: any[]) => void)): void {
  (socket as unknown as { on: (e: string, l: (...args: unknown[]) => void) => void }).on(event, listener as (...args: unknown[]) => void)
}
