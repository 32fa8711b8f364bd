/**
 * Wraps a socket event handler so that every event follows SPEC §4: the payload is validated
 * with a compiled schema, the answer is `{ ok: true, ... }` or `{ ok: false, error }`, an event
 * without an ack callback is handled the same way (its answer is dropped), and nothing a client
 * sends can throw out of the handler and crash the instance.
 */
import { toAck, normalizeError } from '../errors.js'
import type { Validator } from '../schemas/validate.js'
import type { AppSocket } from './types.js'

export interface Logger {
  error: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  info: (obj: object | string, msg?: string) => void
  debug: (obj: object, msg: string) => void
}

/** Checks run before every event (rate limits); they throw a catalog error to refuse it. */
export type EventGuard = (socket: AppSocket, event: string) => void

type AckFn = (answer: unknown) => void

export function createHandle (log: Logger, guard?: EventGuard) {
  return function handle<T> (
    socket: AppSocket,
    event: string,
    validate: Validator<T>,
    fn: (payload: T) => Promise<object | undefined> | object | undefined
  ): void {
    (socket as unknown as { on: (e: string, l: (...args: unknown[]) => void) => void }).on(event, (...args: unknown[]) => {
      // socket.io passes the ack as the last argument; `emit(event, ack)` has no payload at all
      const last = args[args.length - 1]
      const ack: AckFn | undefined = typeof last === 'function' ? last as AckFn : undefined
      const payload = ack !== undefined && args.length === 1 ? undefined : args[0]
      let result: Promise<object | undefined> | object | undefined
      try {
        guard?.(socket, event)
        result = fn(validate(payload))
      } catch (err) {
        fail(err)
        return
      }
      if (result instanceof Promise) {
        result.then(ok, fail)
      } else {
        ok(result)
      }

      function ok (value: object | undefined): void {
        if (ack !== undefined) ack(value === undefined ? { ok: true } : { ok: true, ...value })
      }
      function fail (err: unknown): void {
        const e = normalizeError(err)
        if (e.code === 'internal') log.error({ err: e.cause ?? err, event, sid: socket.id }, 'socket handler failed')
        if (ack !== undefined) ack(toAck(e))
      }
    })
  }
}

export type Handle = ReturnType<typeof createHandle>
