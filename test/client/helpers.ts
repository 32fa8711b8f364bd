/** Shared bits of the client tests: a recording client, REST posting, order/uniqueness checks. */
import type { Test } from 'tap'
import { createClient, type ClientOptions, type Message, type SwitchboardClient, type SwitchboardError } from '../../src/client/index.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { compareIds } from '../../src/client/util.js'

export interface Recorder {
  client: SwitchboardClient
  messages: Message[]
  events: Array<{ event: string, data: unknown }>
  errors: SwitchboardError[]
  of: (roomId: string) => Message[]
}

/** A client whose deliveries and events are recorded; closed when the test ends. */
export function recordingClient (t: Test, opts: Partial<ClientOptions> & { url: string }): Recorder {
  const client = createClient({ token: token({ sub: 'alice' }), backoffMinMs: 100, backoffMaxMs: 1000, ...opts })
  const r: Recorder = { client, messages: [], events: [], errors: [], of: (roomId) => r.messages.filter(m => m.roomId === roomId) }
  client.on('message', (m) => r.messages.push(m))
  for (const e of ['connected', 'disconnected', 'caughtUp', 'gap', 'retry', 'stopped', 'tokenRefreshed', 'shutdown', 'typing', 'receipt', 'roomPresence', 'presence'] as const) {
    client.on(e, (data: unknown) => r.events.push({ event: e, data }))
  }
  client.on('error', (err) => r.errors.push(err))
  client.socket.on('connect_error', (err) => r.events.push({ event: 'connect_error', data: err.message }))
  t.teardown(() => client.close())
  return r
}

export const countOf = (r: Recorder, event: string): number => r.events.filter(e => e.event === event).length

/** Posts `n` messages to a room over REST as a service (one at a time, in order). */
export async function post (url: string, roomId: string, n: number, prefix = 'm'): Promise<Message[]> {
  const svc = token({ sub: 'svc', role: 'service' })
  const out: Message[] = []
  for (let i = 0; i < n; i++) {
    const res = await http(`${url}/v1/rooms/${roomId}/messages`, { token: svc, body: { text: `${prefix}${i}` } })
    if (res.status !== 201) throw new Error(`post failed: ${res.status} ${JSON.stringify(res.body)}`)
    out.push(res.body.message)
  }
  return out
}

/** Every id once, in strictly increasing order. */
export function inOrderOnce (messages: Message[]): boolean {
  for (let i = 1; i < messages.length; i++) if (compareIds(messages[i - 1].id, messages[i].id) >= 0) return false
  return true
}

/** Env of a test server: no rate limits unless asked (the client tests send in bulk). */
export const unlimited = {
  RATE_LIMIT_SEND_BURST: '0',
  RATE_LIMIT_SEND_PER_SECOND: '0',
  RATE_LIMIT_EVENTS_PER_MINUTE: '0',
  RATE_LIMIT_HTTP_MAX: '0',
  RATE_LIMIT_CONNECTIONS_PER_10S: '0'
}
