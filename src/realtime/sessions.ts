/**
 * Socket sessions bound to the principal (SPEC §3, §8). Socket.IO builds a socket, and with
 * connection state recovery restores a previous session (its id, rooms, `data` and missed
 * packets), from the handshake's `pid`/`offset` alone, before any middleware runs. Here the
 * namespace's socket factory is wrapped so that:
 *
 * - a session is restored only for a handshake whose token verifies and whose `sub` is the
 *   session's `sub`; anything else gets a fresh socket (and the handshake middleware, which now
 *   runs on every connection, answers an invalid token with the contract's `connect_error`).
 *   Nothing of the old session (rooms, missed packets) is touched before that check. The new
 *   token's room rule (`assertAccess`) then decides what is restored: client rooms it does not
 *   allow are dropped, and so are the missed packets about them (an event whose payload names
 *   such a `roomId`: `message:new`, `receipt`, `room:presence`), which Socket.IO would otherwise
 *   replay before any handler could judge them.
 * - socket ids begin with `~`, a character no room id may contain (SPEC §3), so a socket's own
 *   id room can never be named, joined or addressed as a client room.
 * - a restored socket hears its rooms' broadcasts from the moment its rooms are restored.
 *   Socket.IO joins them in the socket's constructor but lists the socket in `nsp.sockets`, which
 *   the adapter delivers to, only after the middlewares (our handshake authentication, limits)
 *   have run; a message broadcast in between was neither in the missed packets nor delivered
 *   (seen as 1–2 acked messages lost around a restore in the nginx rolling-restart test). The
 *   adapter's room walk therefore also takes the recovered sockets still waiting for their
 *   middlewares, as Socket.IO's own uWS path does for every pre-connect socket; their packets
 *   go out after the missed ones, before CONNECT, like the missed ones (the client buffers them).
 * - the window before that: a cluster adapter's restoreSession reads the stream up to its end,
 *   and until the socket exists (rooms joined) a newer broadcast that reaches this instance goes
 *   to the room's other sockets only. (Redis serves an XRANGE and an append in one event loop
 *   turn, then writes the blocked stream reader's reply before the XRANGE's, so the reader can
 *   deliver an entry the read did not see before the restore goes on.) So while a restore runs,
 *   the broadcasts the adapter hands on with an offset are kept, and those newer than the last
 *   missed packet (the session's offset when none) in the session's rooms join its missed
 *   packets: each once, in stream order.
 */
import { Socket } from 'socket.io'
import type { Authenticate, Principal } from '../domain/principal.js'
import { isReservedRoom, isValidRoomId } from '../domain/rooms.js'
import { handshakeToken } from './auth.js'
import type { AppNamespace, AppSocket } from './types.js'

/** Every socket id starts with it; `~` is outside the room id alphabet. */
export const SOCKET_ID_PREFIX = '~'

interface Session { sid: string, pid: string, rooms: string[], data: { principal?: Principal }, missedPackets: unknown[] }
interface EngineClient { request: { headers: Record<string, string | string[] | undefined> } }
type Auth = Record<string, unknown>
interface BroadcastOptions { rooms: Set<string>, except?: Set<string>, flags?: Record<string, unknown> }
interface Packet { type: number, id?: number, data: unknown[] }
interface AdapterInternals {
  /** socket.io-adapter ClusterAdapter: appends the stream offset to a broadcast's data (recovery) */
  addOffsetIfNecessary?: (packet: Packet, opts: BroadcastOptions, offset: string) => void
  restoreSession: (pid: string, offset: string) => Promise<Session | null> | Session | null
  /** Socket.IO adapter: calls `fn` for each local socket in `opts.rooms` (all when empty) and in no `opts.except` room */
  apply: (opts: BroadcastOptions, fn: (socket: AppSocket) => void) => void
  /** socket id → its rooms */
  sids: Map<string, Set<string>>
}
interface NamespaceInternals {
  _createSocket: (client: EngineClient, auth: Auth) => Promise<AppSocket>
  /** Socket.IO ≥ 4.8: sockets whose middlewares have not finished */
  _preConnectSockets?: Map<string, AppSocket>
  adapter: AdapterInternals
}

export interface SessionGuardOptions {
  authenticate: Authenticate
  /** connection state recovery is configured for this server */
  recovery: boolean
  /** told of every handshake that asked for recovery (`pid` and `offset`), and whether it was restored */
  onRecovery?: (recovered: boolean) => void
  /** the room rule (throws when the principal may not use the room); absent: rooms are restored as they were */
  assertAccess?: (principal: Principal, roomId: string) => void
}

/** Drops from a session being restored the client rooms, and the missed packets about them, that `principal` may not use. */
function narrowSession (session: Session, principal: Principal, assertAccess: (principal: Principal, roomId: string) => void): void {
  const allowed = (room: unknown): boolean => {
    // socket id rooms, user: rooms and presence rooms are the server's, not client rooms
    if (!isValidRoomId(room) || isReservedRoom(room)) return true
    try {
      assertAccess(principal, room)
      return true
    } catch {
      return false
    }
  }
  session.rooms = session.rooms.filter(allowed)
  session.missedPackets = session.missedPackets.filter((packet) => {
    const payload: unknown = Array.isArray(packet) ? packet[1] : undefined
    return payload === null || typeof payload !== 'object' || allowed((payload as { roomId?: unknown }).roomId)
  })
}

async function principalOf (authenticate: Authenticate, auth: Auth, client: EngineClient): Promise<Principal | undefined> {
  try {
    return await authenticate(handshakeToken(auth, client.request.headers))
  } catch {
    return undefined
  }
}

/** Wraps the namespace's socket factory (Socket.IO 4.8 `Namespace#_createSocket`). */
export function guardSessions (nsp: AppNamespace, opts: SessionGuardOptions): void {
  const n = nsp as unknown as NamespaceInternals
  const create = n._createSocket.bind(nsp)
  /** one list per restore in flight: the offset broadcasts that arrive meanwhile */
  const keeping = new Set<Kept[]>()
  const addOffset = n.adapter.addOffsetIfNecessary?.bind(n.adapter)
  if (opts.recovery && addOffset !== undefined) {
    n.adapter.addOffsetIfNecessary = (packet, o, offset) => {
      addOffset(packet, o, offset)
      if (keeping.size === 0 || packet.data[packet.data.length - 1] !== offset) return
      const kept = { data: [...packet.data], rooms: [...o.rooms], except: [...(o.except ?? [])], offset }
      for (const list of keeping) list.push(kept)
    }
  }
  n._createSocket = async (client, auth) => {
    const { pid, offset, ...rest } = auth ?? {}
    const asked = opts.recovery && typeof pid === 'string' && typeof offset === 'string'
    if (asked) {
      const principal = await principalOf(opts.authenticate, auth, client)
      if (principal !== undefined) {
        let session: Session | null = null
        const arriving: Kept[] = []
        keeping.add(arriving)
        try {
          session = await n.adapter.restoreSession(pid, offset)
        } catch {} finally {
          keeping.delete(arriving)
        }
        if (session !== null && session.sid.startsWith(SOCKET_ID_PREFIX) && session.data?.principal?.sub === principal.sub) {
          addArrived(session, offset, arriving)
          // the handshake middleware then sets the new token's principal (expiry, claims)
          if (opts.assertAccess !== undefined) narrowSession(session, principal, opts.assertAccess)
          opts.onRecovery?.(true)
          return new Socket(nsp, client as never, auth, session as never) as unknown as AppSocket
        }
      }
    }
    if (asked) opts.onRecovery?.(false)
    // without pid/offset Socket.IO makes a fresh socket
    const socket = await create(client, rest)
    ;(socket as { id: string }).id = SOCKET_ID_PREFIX + socket.id
    return socket
  }
  if (opts.recovery) deliverToRestoring(n)
}

/** a broadcast with its stream offset, kept while a restore runs */
interface Kept { data: unknown[], rooms: string[], except: string[], offset: string }

/** `<ms>-<seq>` stream ids, numerically */
function compareOffsets (a: string, b: string): number {
  const [am, as] = a.split('-').map(Number)
  const [bm, bs] = b.split('-').map(Number)
  return am - bm || as - bs
}

/** Appends to the missed packets what arrived during the restore and the restore's read did not see. */
function addArrived (session: Session, offset: string, arrived: Kept[]): void {
  if (arrived.length === 0 || !/^\d+-\d+$/.test(offset)) return
  const lastMissed = session.missedPackets[session.missedPackets.length - 1]
  let last = Array.isArray(lastMissed) && typeof lastMissed[lastMissed.length - 1] === 'string' ? lastMissed[lastMissed.length - 1] as string : offset
  for (const k of [...arrived].sort((x, y) => compareOffsets(x.offset, y.offset))) {
    if (compareOffsets(k.offset, last) <= 0) continue
    if (k.rooms.length > 0 && !k.rooms.some(r => session.rooms.includes(r))) continue
    if (k.except.some(r => session.rooms.includes(r))) continue
    session.missedPackets.push(k.data)
    last = k.offset
  }
}

/** One walk of a room broadcast also reaches the restored sockets still in their middlewares. */
function deliverToRestoring (n: NamespaceInternals): void {
  const waiting = n._preConnectSockets
  if (waiting === undefined) return
  const adapter = n.adapter
  const apply = adapter.apply.bind(adapter)
  adapter.apply = (opts, fn) => {
    apply(opts, fn)
    if (waiting.size === 0) return
    for (const socket of waiting.values()) {
      if (!socket.recovered) continue
      const rooms = adapter.sids.get(socket.id)
      if (rooms === undefined) continue
      if (opts.rooms.size > 0 && !intersects(opts.rooms, rooms)) continue
      if (opts.except !== undefined && intersects(opts.except, rooms)) continue
      fn(socket)
    }
  }
}

function intersects (a: Set<string>, b: Set<string>): boolean {
  for (const x of a) if (b.has(x)) return true
  return false
}
