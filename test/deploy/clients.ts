/**
 * Clients for the deploy tests, two kinds behind one interface:
 *   - `startClient`: a real socket.io-client connection with its DEFAULT reconnection, running
 *     the "client that never misses a message" loop of docs/delivery.md by hand (rejoin with
 *     `since` = last id seen whenever the session was not recovered, page on with
 *     history:fetch while hasMore, dedupe by id): what an application without our client writes;
 *   - `startLibClient`: the shipped client, `switchboard/client` (src/client), whose own loop
 *     does the same and delivers each id once (so its duplicates are counted, not deduped);
 * and senders that record every acked message in a ledger.
 *
 * A refusal socket.io-client treats as final shows as `socket.active === false` after a
 * connect_error, or a disconnect with reason `io server disconnect`: that client "gave up".
 * Each client can bind to its own loopback source address (127.0.N.1), so an ip_hash proxy
 * spreads them over its upstreams as it would spread real users.
 */
import { Agent } from 'node:http'
import { io, type Socket } from 'socket.io-client'
import { sleep } from '../helpers/net.js'
import { SwitchboardClient } from '../../src/client/index.js'

export interface Msg { id: string, roomId: string, clientMsgId?: string, ackedAt?: number }

/** Compares two message ids (`<ms>-<seq>`) numerically. */
export function cmpId (a: string, b: string): number {
  const [am, as] = a.split('-').map(Number)
  const [bm, bs] = b.split('-').map(Number)
  return am - bm || as - bs
}

export interface LoopClient {
  name: string
  transport: string
  roomId: string
  socket: Socket
  seen: Set<string>
  lastId: string | undefined
  joining: boolean
  connects: number
  reconnectMs: number[]
  catchUps: number[]
  gaveUp: string[]
  errors: string[]
  /** every (re)connection after the first: when, and whether Socket.IO recovered the session */
  history: Array<{ downAt: number, upAt: number, recovered: boolean }>
  /** the shipped client, when this is one (`startLibClient`) */
  lib?: SwitchboardClient
  /** ids the shipped client delivered more than once (it promises each id once) */
  duplicates: number
}

export interface ClientOptions {
  name: string
  roomId: string
  token: string
  transports: Array<'websocket' | 'polling'>
  /** newest id of the room when the client starts (its first `since`) */
  since?: string
  localAddress?: string
  path?: string
}

async function emit (socket: Socket, event: string, payload: unknown): Promise<any> {
  return await socket.timeout(10_000).emitWithAck(event, payload)
}

/** Connects, joins its room, and keeps itself caught up across reconnects. */
export async function startClient (url: string, o: ClientOptions): Promise<LoopClient> {
  const agent = o.localAddress !== undefined ? new Agent({ keepAlive: true, localAddress: o.localAddress }) : undefined
  const socket = io(url, {
    auth: { token: o.token },
    transports: o.transports,
    forceNew: true,
    ...(o.path !== undefined && { path: o.path }),
    ...(agent !== undefined && { agent: agent as unknown as string, localAddress: o.localAddress })
  })
  const c: LoopClient = { name: o.name, transport: o.transports.join('+'), roomId: o.roomId, socket, seen: new Set(), lastId: o.since, joining: false, connects: 0, reconnectMs: [], catchUps: [], gaveUp: [], errors: [], history: [], duplicates: 0 }
  const buffer: Msg[] = []
  let downAt: number | undefined

  const apply = (m: Msg): void => {
    if (m.roomId !== c.roomId || c.seen.has(m.id)) return
    c.seen.add(m.id)
    if (c.lastId === undefined || cmpId(m.id, c.lastId) > 0) c.lastId = m.id
  }
  socket.on('message:new', (m: Msg) => { if (c.joining) buffer.push(m); else apply(m) })

  const join = async (): Promise<void> => {
    c.joining = true
    try {
      const res = await emit(socket, 'room:join', c.lastId !== undefined ? { roomId: c.roomId, since: c.lastId } : { roomId: c.roomId })
      if (res.ok !== true) throw new Error(`room:join: ${res.error?.code as string}`)
      let size = 0
      for (const m of res.missed ?? []) { apply(m); size++ }
      for (let more = res.hasMore === true; more;) {
        const page = await emit(socket, 'history:fetch', { roomId: c.roomId, after: c.lastId, limit: 100 })
        if (page.ok !== true) throw new Error(`history:fetch: ${page.error?.code as string}`)
        for (const m of page.messages) { apply(m); size++ }
        more = page.hasMore
      }
      c.catchUps.push(size)
    } finally {
      c.joining = false
      for (const m of buffer.splice(0)) apply(m)
    }
  }
  const joinRetrying = async (): Promise<void> => {
    for (let i = 0; i < 20 && socket.connected; i++) {
      try { await join(); return } catch (err) { c.errors.push((err as Error).message); await sleep(500) }
    }
  }

  socket.on('disconnect', (reason) => {
    downAt = Date.now()
    if (reason === 'io server disconnect') c.gaveUp.push('io server disconnect')
  })
  socket.on('connect_error', (err) => {
    c.errors.push(`connect_error ${err.message}`)
    if (!socket.active) c.gaveUp.push(`connect_error ${err.message} (final)`)
  })
  const first = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${o.name}: no connect within 20 s (${c.errors.join(', ')})`)), 20_000)
    socket.on('connect', () => {
      c.connects++
      if (downAt !== undefined) {
        c.reconnectMs.push(Date.now() - downAt)
        c.history.push({ downAt, upAt: Date.now(), recovered: socket.recovered })
        downAt = undefined
      }
      if (c.connects === 1) { clearTimeout(t); resolve(); return }
      if (!socket.recovered) joinRetrying().catch(() => {})
    })
  })
  await first
  await join()
  return c
}

/**
 * The shipped client (`switchboard/client`) in the same shape: it reconnects (its own backoff,
 * and after the refusals socket.io-client treats as final), rejoins with `since`, pages and
 * dedupes by itself; this only records what it reports. "Gave up" is its `stopped` event.
 */
export async function startLibClient (url: string, o: ClientOptions): Promise<LoopClient> {
  const agent = o.localAddress !== undefined ? new Agent({ keepAlive: true, localAddress: o.localAddress }) : undefined
  const lib = new SwitchboardClient({
    url,
    token: o.token,
    transports: o.transports,
    socketOptions: {
      ...(o.path !== undefined && { path: o.path }),
      ...(agent !== undefined && { agent: agent as unknown as string, localAddress: o.localAddress } as object)
    }
  })
  const c: LoopClient = {
    name: o.name,
    transport: `${o.transports.join('+')} (client)`,
    roomId: o.roomId,
    socket: lib.socket as unknown as Socket,
    seen: new Set(),
    lastId: o.since,
    get joining () { return lib.rooms.states.get(o.roomId)?.ready !== true },
    connects: 0,
    reconnectMs: [],
    catchUps: [],
    gaveUp: [],
    errors: [],
    history: [],
    lib,
    duplicates: 0
  }
  let downAt: number | undefined
  lib.on('message', (m) => {
    if (m.roomId !== c.roomId) return
    if (c.seen.has(m.id)) c.duplicates++
    c.seen.add(m.id)
    if (c.lastId === undefined || cmpId(m.id, c.lastId) > 0) c.lastId = m.id
  })
  lib.on('disconnected', () => { downAt ??= Date.now() })
  lib.on('connected', ({ recovered }) => {
    c.connects++
    if (downAt === undefined) return
    c.reconnectMs.push(Date.now() - downAt)
    c.history.push({ downAt, upAt: Date.now(), recovered })
    downAt = undefined
  })
  lib.on('caughtUp', (r) => c.catchUps.push(r.count))
  lib.on('gap', (g) => c.errors.push(`gap after ${g.since}`))
  lib.on('error', (err) => c.errors.push(`${err.code}: ${err.message}`))
  lib.on('stopped', (err) => c.gaveUp.push(`stopped ${err.code}: ${err.message}`))
  const first = await lib.join(o.roomId, o.since !== undefined ? { since: o.since } : {})
  c.catchUps.push(first.count)
  return c
}

/**
 * Sends one message after another (one every `everyMs`) until `stop()`; every acked message goes
 * into `ledger`. A send that is not acked (drain, reconnect, timeout) is retried with the same
 * clientMsgId, so it is stored at most once.
 */
export function startSender (c: LoopClient, ledger: Msg[], everyMs: number): { stop: () => Promise<void>, failed: () => number } {
  // after stop(): no new message, and retries of the one in flight end 20 s later
  const state = { running: true, deadline: Infinity }
  let n = 0
  let failed = 0
  const loop = (async () => {
    while (state.running) {
      const clientMsgId = `${c.name}-${n++}`
      let acked = false
      if (c.lib !== undefined) {
        // the shipped client retries by itself (same clientMsgId) until its send timeout
        try {
          const m = await c.lib.send(c.roomId, `m ${clientMsgId}`, { clientMsgId, timeoutMs: 30_000 })
          ledger.push({ id: m.id, roomId: c.roomId, clientMsgId, ackedAt: Date.now() })
          acked = true
        } catch {}
      }
      for (let attempt = 0; c.lib === undefined && attempt < 12 && !acked && Date.now() < state.deadline; attempt++) {
        for (let w = 0; w < 100 && !c.socket.connected && Date.now() < state.deadline; w++) await sleep(100)
        try {
          const res = await c.socket.timeout(5000).emitWithAck('message:send', { roomId: c.roomId, text: `m ${clientMsgId}`, clientMsgId })
          if (res.ok === true) {
            ledger.push({ id: res.message.id, roomId: c.roomId, clientMsgId, ackedAt: Date.now() })
            acked = true
          } else {
            await sleep(res.error?.retryAfterMs ?? 500)
          }
        } catch {
          await sleep(200)
        }
      }
      if (!acked) failed++
      await sleep(everyMs)
    }
  })()
  return { stop: async () => { state.running = false; state.deadline = Date.now() + 20_000; await loop }, failed: () => failed }
}

export function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
