/**
 * The contract's Switchboard families (SPEC §6 "Metrics"): their names, and the only label
 * values each may take. Socket-side families are lean instruments (./lean.ts) with every
 * combination exported at 0 from the first scrape; nothing a client sends (an event name, a
 * room or user id) can add a series. The gauges read their value at scrape time.
 */
import type { Registry } from 'prom-client'
import type { ErrorCode } from '../errors.js'
import { LeanCounter, LeanHistogram } from './lean.js'

const CODES: Record<ErrorCode, true> = {
  unauthorized: true, token_expired: true, forbidden: true, invalid_payload: true, not_found: true, not_in_room: true, payload_too_large: true, rate_limited: true, unavailable: true, internal: true
}
export const ERROR_CODES = Object.keys(CODES) as ErrorCode[]

/** The contract's client events (SPEC §5, both namespaces); anything else is `unknown`. */
export const CLIENT_EVENTS = [
  'room:join', 'room:leave', 'message:send', 'history:fetch', 'typing', 'receipt:read',
  'presence:subscribe', 'presence:unsubscribe', 'auth:refresh', 'stats:get', 'user:disconnect'
] as const
export const UNKNOWN_EVENT = 'unknown'

/** Socket.IO 4.8's server-side disconnect reasons. */
export const DISCONNECT_REASONS = [
  'transport error', 'transport close', 'forced close', 'ping timeout', 'parse error',
  'server shutting down', 'forced server close', 'client namespace disconnect', 'server namespace disconnect'
] as const

/** Handshake refusals: every code a namespace middleware can answer. */
export const HANDSHAKE_RESULTS = ['ok', 'unauthorized', 'token_expired', 'forbidden', 'rate_limited', 'unavailable', 'internal'] as const

/** Seconds, for realtime: sub-millisecond to seconds (0.2 s is the RTT alert's threshold). */
export const REALTIME_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5]

export interface SocketFamilies {
  handshakes: LeanCounter
  events: LeanCounter
  eventDuration: LeanHistogram
  rtt: LeanHistogram
  disconnects: LeanCounter
  recoveries: LeanCounter
  catchups: LeanCounter
  messagesSent: LeanCounter
  sweptConnections: LeanCounter
}

export function createSocketFamilies (registry: Registry): SocketFamilies {
  const events = [...CLIENT_EVENTS, UNKNOWN_EVENT]
  return {
    handshakes: new LeanCounter('switchboard_handshakes_total', 'Socket handshakes (namespace connections), by result: ok or the refusal\'s error code', { result: HANDSHAKE_RESULTS }, registry),
    events: new LeanCounter('switchboard_socket_events_total', 'Client events handled, by event and result (ok or the error code)', { event: events, result: ['ok', ...ERROR_CODES] }, registry),
    eventDuration: new LeanHistogram('switchboard_socket_event_duration_seconds', 'From receiving a client event to its answer', { event: events }, REALTIME_BUCKETS, registry),
    rtt: new LeanHistogram('switchboard_socket_rtt_seconds', 'Engine.IO ping to pong round trip of live connections', {}, REALTIME_BUCKETS, registry),
    disconnects: new LeanCounter('switchboard_disconnects_total', 'Sockets gone, by Socket.IO disconnect reason', { reason: DISCONNECT_REASONS }, registry),
    recoveries: new LeanCounter('switchboard_recoveries_total', 'Reconnects that asked for connection state recovery, by result', { result: ['recovered', 'not_recovered'] }, registry),
    catchups: new LeanCounter('switchboard_catchups_total', 'room:join with since, by whether every missed message could be given', { recovered: ['true', 'false'] }, registry),
    messagesSent: new LeanCounter('switchboard_messages_sent_total', 'Messages accepted on this instance, by transport (a repeat is not counted)', { transport: ['socket', 'rest'] }, registry),
    sweptConnections: new LeanCounter('switchboard_presence_swept_connections_total', 'Connections of dead instances removed by a presence sweep', {}, registry)
  }
}

/** The per-event slots of one event, bound once when its listener is defined (src/realtime/handle.ts). */
export interface EventInstrument {
  /** the event handled: records the result and the time since `startMs` (performance.now()) */
  done: (result: 'ok' | ErrorCode, startMs: number) => void
}

export function eventInstrument (f: SocketFamilies, event: string): EventInstrument {
  const name = (CLIENT_EVENTS as readonly string[]).includes(event) ? event : UNKNOWN_EVENT
  const ok = f.events.slot({ event: name, result: 'ok' })
  const codes = new Map(ERROR_CODES.map(code => [code, f.events.slot({ event: name, result: code })]))
  const duration = f.eventDuration.slot({ event: name })
  return {
    done (result, startMs) {
      f.events.inc(result === 'ok' ? ok : codes.get(result) ?? -1)
      f.eventDuration.observe(duration, (performance.now() - startMs) / 1000)
    }
  }
}
