/**
 * Helpers for the delivery tests: the instances under test (one in-process app, or two real
 * processes on one Redis), sockets that can reconnect (for connection state recovery), and the
 * small sending / reading steps every scenario repeats.
 */
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { io as ioc } from 'socket.io-client'
import { startApp, http } from '../helpers/app.js'
import { spawnServer } from '../helpers/proc.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { ack, type ClientSocket } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { createKeys } from '../../src/stores/keys.js'
import type { Message } from '../../src/schemas/common.js'

export type Mode = 'memory' | 'redis' | 'redis-sharded' | 'redis-streams'

/** every limit of SPEC §7 off: these tests send in bursts on purpose */
export const LIMITS_OFF = {
  RATE_LIMIT_HTTP_MAX: '0',
  RATE_LIMIT_SEND_BURST: '0',
  RATE_LIMIT_SEND_PER_SECOND: '0',
  RATE_LIMIT_EVENTS_PER_MINUTE: '0',
  RATE_LIMIT_CONNECTIONS_PER_10S: '0'
}

export interface Cluster {
  mode: Mode
  /** the instance a client starts on, and the other one (the same one in memory mode) */
  a: string
  b: string
  historyMax: number
  /**
   * Loses a room's history behind the service's back: DEL of its stream on Redis; in memory mode
   * the one way it happens, a restart of the instance (`a` and `b` then point at the new one).
   */
  dropHistory: (roomId: string) => Promise<void>
}

/** Starts the instances once for a whole test file (two processes for Redis modes). */
export async function startCluster (t: Test, mode: Mode, historyMax: number): Promise<Cluster> {
  const env = { ...LIMITS_OFF, HISTORY_MAX_MESSAGES: String(historyMax), LOG_LEVEL: 'warn' }
  if (mode === 'memory') {
    let app = await startApp(t, env)
    const cluster: Cluster = {
      mode,
      a: app.url,
      b: app.url,
      historyMax,
      dropHistory: async () => {
        await app.close()
        app = await startApp(t, env)
        cluster.a = cluster.b = app.url
      }
    }
    return cluster
  }
  const redis = await startRedis()
  t.teardown(redis.close)
  const prefix = uniquePrefix(`delivery-${mode}`)
  const penv = { ...env, REDIS_URL: redis.url, ADAPTER: mode, REDIS_KEY_PREFIX: prefix }
  const [a, b] = await Promise.all([spawnServer(t, penv), spawnServer(t, penv)])
  const direct = new Redis(redis.url)
  t.teardown(() => { direct.disconnect() })
  const keys = createKeys(prefix)
  return { mode, a: a.url, b: b.url, historyMax, dropHistory: async (roomId) => { await direct.del(keys.roomHistory(roomId)) } }
}

/**
 * A socket.io-client socket that is not connected yet and can be connected again after a drop,
 * as a browser's would. `session` presets a previous session (pid and last offset), as the
 * client's own reconnect sends it, to show recovery on another instance.
 */
export function client (url: string, jwt: string, session?: { pid: string, offset: string | undefined }): ClientSocket {
  const s = ioc(url, { transports: ['websocket'], reconnection: false, forceNew: true, autoConnect: false, auth: { token: jwt } })
  if (session !== undefined) Object.assign(s, { _pid: session.pid, _lastOffset: session.offset })
  return s
}

/** Connects (or reconnects) and resolves once connected. */
export async function open (s: ClientSocket, timeoutMs = 5000): Promise<ClientSocket> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error('connect timeout')) }, timeoutMs)
    const onConnect = (): void => { cleanup(); resolve(s) }
    const onError = (err: Error): void => { cleanup(); reject(err) }
    function cleanup (): void {
      clearTimeout(timer)
      s.off('connect', onConnect)
      s.off('connect_error', onError)
    }
    s.on('connect', onConnect)
    s.on('connect_error', onError)
    s.connect()
  })
}

/** Drops the transport under the socket (a network drop, not a goodbye) and waits for it. */
export async function drop (s: ClientSocket): Promise<void> {
  const gone = new Promise<void>(resolve => s.once('disconnect', () => resolve()))
  s.io.engine.close()
  await gone
}

/** The private session a socket.io-client would present on reconnect. */
export function sessionOf (s: ClientSocket): { pid: string, offset: string | undefined } {
  const p = s as unknown as { _pid?: string, _lastOffset?: string }
  if (p._pid === undefined) throw new Error('no session: connection state recovery is off')
  return { pid: p._pid, offset: p._lastOffset }
}

export async function connectAs (url: string, sub: string): Promise<ClientSocket> {
  return await open(client(url, token({ sub })))
}

export async function join (s: ClientSocket, roomId: string, since?: string): Promise<any> {
  const r = await ack(s, 'room:join', since === undefined ? { roomId } : { roomId, since })
  if (r.ok !== true) throw new Error(`join failed: ${JSON.stringify(r)}`)
  return r
}

/** Sends `n` messages one after the other; returns them as acknowledged. */
export async function sendMany (s: ClientSocket, roomId: string, n: number, label: string): Promise<Message[]> {
  const out: Message[] = []
  for (let i = 0; i < n; i++) {
    const r = await ack(s, 'message:send', { roomId, text: `${label} ${i}` })
    if (r.ok !== true) throw new Error(`send failed: ${JSON.stringify(r)}`)
    out.push(r.message)
  }
  return out
}

export async function historyOf (url: string, roomId: string, limit = 100): Promise<Message[]> {
  const r = await http(`${url}/v1/rooms/${roomId}/messages?limit=${limit}`, { token: token({ sub: 'reader' }) })
  if (r.status !== 200) throw new Error(`history failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.messages
}

export const ids = (ms: Array<{ id: string }>): string[] => ms.map(m => m.id)

// the barrier of every negative check: test/helpers/socket.ts
export { untilMarker } from '../helpers/socket.js'

export function closeSockets (...sockets: ClientSocket[]): void {
  for (const s of sockets) s.close()
}
