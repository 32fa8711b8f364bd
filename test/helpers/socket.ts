/** Real socket.io-client connections for tests, with timeouts on everything awaited. */
import { io as ioc, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client'
import type { Message } from '../../src/schemas/common.js'

export type ClientSocket = Socket

export interface ConnectOptions extends Partial<ManagerOptions & SocketOptions> {
  namespace?: string
  timeoutMs?: number
  /** called with the socket before it connects, to register listeners for early events */
  onCreate?: (socket: ClientSocket) => void
}

const open: ClientSocket[] = []

/** Connects with `auth: { token }`; rejects with the connect_error (message = code, data). */
export async function connect (url: string, token: string | undefined, opts: ConnectOptions = {}): Promise<ClientSocket> {
  const { namespace = '/', timeoutMs = 5000, onCreate, ...rest } = opts
  const socket = ioc(url + namespace, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: timeoutMs,
    ...(token !== undefined && { auth: { token } }),
    ...rest
  })
  open.push(socket)
  onCreate?.(socket)
  return await new Promise((resolve, reject) => {
    const t = setTimeout(() => { socket.close(); reject(new Error('connect timeout')) }, timeoutMs)
    socket.once('connect', () => { clearTimeout(t); resolve(socket) })
    socket.once('connect_error', (err) => { clearTimeout(t); socket.close(); reject(err) })
  })
}

/** Emits with an ack and resolves with the answer (rejects after the timeout). */
export async function ack<T = any> (socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return await socket.timeout(5000).emitWithAck(event, ...args) as T
}

/** Resolves with the next `event` (rejects after the timeout). */
export async function next<T = any> (socket: ClientSocket, event: string, timeoutMs = 5000): Promise<T> {
  return await new Promise((resolve, reject) => {
    const t = setTimeout(() => { socket.off(event, on); reject(new Error(`no ${event} within ${timeoutMs} ms`)) }, timeoutMs)
    function on (payload: T): void { clearTimeout(t); resolve(payload) }
    socket.once(event, on)
  })
}

/** Records every `event` the socket receives from now on. */
export function collect<T = any> (socket: ClientSocket, event: string): T[] {
  const seen: T[] = []
  socket.on(event, (p: T) => seen.push(p))
  return seen
}

/** Records every event of any name (to assert that nothing arrived). */
export function collectAll (socket: ClientSocket): Array<{ event: string, args: unknown[] }> {
  const seen: Array<{ event: string, args: unknown[] }> = []
  socket.onAny((event: string, ...args: unknown[]) => seen.push({ event, args }))
  return seen
}

/**
 * The barrier of every "nothing else arrived" check: resolves with every `message:new` the
 * socket receives until (and without) the one whose text is `marker`. Send the marker after the
 * action, along the path a wrong broadcast would take; once it arrives, whatever that action
 * broadcast has arrived too, so an empty answer proves the absence without waiting a fixed time.
 */
export async function untilMarker<M extends { text: string } = Message> (s: ClientSocket, marker: string, timeoutMs = 5000): Promise<M[]> {
  const seen: M[] = []
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { s.off('message:new', on); reject(new Error(`no marker ${marker} within ${timeoutMs} ms; got ${seen.map(m => m.text).join(', ')}`)) }, timeoutMs)
    function on (m: M): void {
      if (m.text === marker) {
        clearTimeout(timer)
        s.off('message:new', on)
        resolve(seen)
      } else {
        seen.push(m)
      }
    }
    s.on('message:new', on)
  })
}

/** What `collectAll` recorded before the `message:new` whose text is `marker` (the barrier). */
export function recordedBefore (seen: Array<{ event: string, args: unknown[] }>, marker: string): Array<{ event: string, args: unknown[] }> {
  const i = seen.findIndex(e => e.event === 'message:new' && (e.args[0] as { text?: unknown } | undefined)?.text === marker)
  if (i < 0) throw new Error(`the marker ${marker} was not recorded`)
  return seen.slice(0, i)
}

export function closeAll (): void {
  for (const s of open.splice(0)) s.close()
}
