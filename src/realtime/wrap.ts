/**
 * The one wrapper every socket event handler goes through (SPEC §4): the payload is validated
 * with a compiled schema, the answer is `{ ok: true, ... }` or `{ ok: false, error }`, an event
 * without an ack callback is handled the same way (its answer is dropped), and nothing a client
 * sends can throw out of the handler and crash the instance. Every refusal is told to `onError`
 * (the rate-limit reporting) and every answer to the event's instrument (SPEC §6 metrics).
 */
import type { Logger } from '../log.js'
import { toAck, normalizeError } from '../errors.js'
import type { Validator } from '../schemas/validate.js'
import type { AppSocket } from './types.js'
import { REDIS_BUDGET_MS } from '../deadline.js'
import type { EventInstrument } from '../metrics/families.js'
import type { Static } from '../schemas/type.js'
import type { AdminClientEvents, MainClientEvents } from '../schemas/events.js'

type AckFn = (answer: unknown) => void

/**
 * A handler: the socket that sent the event, its validated payload and the event's deadline
 * (epoch ms, REDIS_BUDGET_MS from its arrival: src/deadline.ts, SPEC §8), which it passes to
 * every service call; returns the ack's fields.
 */
export type SocketHandler<T, R extends object = object> = (socket: AppSocket, payload: T, deadline: number) => Promise<R | undefined> | R | undefined

type ClientEventTable = typeof MainClientEvents & typeof AdminClientEvents
/** The client → server events of the contract (src/schemas/events.ts). */
export type ClientEventName = keyof ClientEventTable
/**
 * The fields of an event's `ok` answer: its ack schema in the contract's tables, the one the typed
 * client and the AsyncAPI document use, so a handler whose answer drifts from it fails the build.
 */
export type AckFields<E extends ClientEventName> = Omit<Static<ClientEventTable[E]['ack']>, 'ok'>

/**
 * A listener shared by every socket: Socket.IO calls it with `this` = the socket, so one
 * function serves all connections and a connection costs no closure per event.
 */
export type SharedListener = (this: AppSocket, ...args: unknown[]) => void

export interface WrapOptions {
  /** told of every refusal (the handler threw, or a socket middleware refused the event) */
  onError?: (socket: AppSocket, event: string, err: unknown) => void
  /** the metrics of one event (SPEC §6: result and duration), bound once per event when it is defined */
  instrument?: (event: string) => EventInstrument
}

export interface Wrap {
  /** Defines the shared listener of one event; attach it with `listen(socket, event, listener)`. */
  define: <E extends ClientEventName, T>(event: E, validate: Validator<T>, fn: SocketHandler<T, AckFields<E>>) => SharedListener
  /**
   * Answers an event refused before its handler ran (a `socket.use` middleware: the per-event
   * limit), exactly as if the handler had thrown `err`. `packet` is `[event, ...args]`.
   */
  refuse: (socket: AppSocket, packet: unknown[], err: unknown) => void
}

export function createWrap (log: Logger, opts: WrapOptions = {}): Wrap {
  const { onError, instrument } = opts
  const instruments = new Map<string, EventInstrument>()

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

  /** socket.io passes the ack as the last argument; `emit(event, ack)` has no payload at all */
  function split (args: unknown[]): [unknown, AckFn | undefined] {
    const last = args[args.length - 1]
    const ack: AckFn | undefined = typeof last === 'function' ? last as AckFn : undefined
    return [ack !== undefined && args.length === 1 ? undefined : args[0], ack]
  }

  function define<E extends ClientEventName, T> (event: E, validate: Validator<T>, fn: SocketHandler<T, AckFields<E>>): SharedListener {
    const ins = instrument?.(event)
    if (ins !== undefined) instruments.set(event, ins)
    return function listener (this: AppSocket, ...args: unknown[]): void {
      const socket = this
      const start = ins !== undefined ? performance.now() : 0
      const [payload, ack] = split(args)
      let result: Promise<object | undefined> | object | undefined
      try {
        // one deadline for every Redis call the event makes (SPEC §8)
        result = fn(socket, validate(payload), Date.now() + REDIS_BUDGET_MS)
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

  function refuse (socket: AppSocket, packet: unknown[], err: unknown): void {
    const event = String(packet[0])
    const ins = instruments.get(event)
    fail(socket, event, split(packet.slice(1))[1], err, ins, ins !== undefined ? performance.now() : 0)
  }

  return { define, refuse }
}

export type Define = Wrap['define']

/** Attaches a shared listener to a socket (Socket.IO's typed `on` does not know `this`). */
export function listen (socket: AppSocket, event: string, listener: SharedListener | ((this: AppSocket, ...args: any[]) => void)): void {
  (socket as unknown as { on: (e: string, l: (...args: unknown[]) => void) => void }).on(event, listener as (...args: unknown[]) => void)
}
