/**
 * Load worker: one of several processes the runner forks, because a single Node process cannot
 * parse the deliveries of a thousand sockets and keep a steady send rate at the same time.
 * It holds real socket.io-client connections and answers the runner's IPC commands
 * (see lib/protocol.ts): connect + join, run one send window, disconnect.
 */
import { createSigner } from 'fast-jwt'
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js'
import { io, type Socket } from 'socket.io-client'
import {
  HIST_OPTS, wallNow,
  type ConnectCmd, type RunCmd, type RunResultMsg, type WorkerCmd, type WorkerMsg
} from './lib/protocol.js'

/** What the server answers on every ack (SPEC §4); the baseline answers the same shape. */
interface Ack {
  ok?: boolean
  error?: { code?: string }
}

interface Client {
  socket: Socket
  sub: string
}

/** Counters of the run in progress; null between runs. */
interface RunState {
  runId: string
  endAt: number
  received: number
  receivedInWindow: number
  latency: Histogram
  lastRecvAt: number
}

/** a worker's clients by slot; a slot whose client failed to open stays null, so the
 * runner's indices stay valid */
const clients: Array<Client | null> = []
let current: RunState | null = null
let stale = 0
let disconnects = 0
const disconnectReasons: Record<string, number> = {}

function send (msg: WorkerMsg): void {
  process.send?.(msg)
}

/** Counts a message:new; the text is `<runId>|<sent wall ms>|<padding>`. */
function onMessage (m: unknown): void {
  if (typeof m !== 'object' || m === null) return
  const text = (m as { text?: unknown }).text
  if (typeof text !== 'string') return
  const now = wallNow()
  const bar1 = text.indexOf('|')
  const bar2 = text.indexOf('|', bar1 + 1)
  if (bar1 < 0 || bar2 < 0) return
  const run = current
  if (run === null || text.slice(0, bar1) !== run.runId) {
    stale++
    return
  }
  const sentAt = Number(text.slice(bar1 + 1, bar2))
  run.received++
  if (now <= run.endAt) run.receivedInWindow++
  run.lastRecvAt = now
  run.latency.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)))
}

/** Opens one client and joins its rooms; resolves with an error string or null. */
async function openClient (slot: number, url: string, token: string, sub: string, rooms: string[], timeoutMs: number): Promise<string | null> {
  const socket = io(url, {
    transports: ['websocket'],
    auth: { token },
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs
  })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connect timeout')), timeoutMs)
      socket.once('connect', () => { clearTimeout(timer); resolve() })
      socket.once('connect_error', (err: Error) => { clearTimeout(timer); reject(err) })
    })
    for (const roomId of rooms) {
      const ack = await socket.timeout(timeoutMs).emitWithAck('room:join', { roomId }) as Ack
      if (ack?.ok !== true) throw new Error(`room:join ${roomId}: ${ack?.error?.code ?? 'no ok'}`)
    }
  } catch (err) {
    socket.close()
    return err instanceof Error ? err.message : String(err)
  }
  socket.on('message:new', onMessage)
  socket.on('disconnect', (reason: string) => {
    disconnects++
    disconnectReasons[reason] = (disconnectReasons[reason] ?? 0) + 1
  })
  clients[slot] = { socket, sub }
  return null
}

async function connect (cmd: ConnectCmd): Promise<void> {
  const t0 = performance.now()
  const sign = createSigner({ key: cmd.secret, algorithm: 'HS256' })
  const exp = Math.floor(Date.now() / 1000) + 6 * 3600
  const errors: string[] = []
  const errorCounts: Record<string, number> = {}
  let ok = 0
  let failed = 0
  let next = 0
  const base = clients.length
  for (let i = 0; i < cmd.clients.length; i++) clients.push(null)
  const deadline = Date.now() + cmd.timeoutMs * 4 + cmd.clients.length * 20
  // a fixed number of lanes, each opening clients one after another: bounded concurrency
  const lane = async (): Promise<void> => {
    while (next < cmd.clients.length && Date.now() < deadline) {
      const slot = next++
      const spec = cmd.clients[slot]
      const url = cmd.urls[spec.url]
      const token = sign({ sub: spec.sub, exp })
      const err = await openClient(base + slot, url, token, spec.sub, spec.rooms, cmd.timeoutMs)
      if (err === null) {
        ok++
      } else {
        failed++
        errorCounts[err] = (errorCounts[err] ?? 0) + 1
        if (errors.length < 5) errors.push(`${spec.sub}: ${err}`)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, cmd.concurrency) }, lane))
  const notTried = cmd.clients.length - ok - failed
  if (notTried > 0) errorCounts['not tried before the deadline'] = notTried
  failed += notTried
  send({ type: 'connected', reqId: cmd.reqId, ok, failed, errors, errorCounts, ms: performance.now() - t0 })
}

/** Pads the text to the requested length so message size is the same for every target. */
function makeText (runId: string, t: number, bytes: number): string {
  const head = `${runId}|${t.toFixed(3)}|`
  return head.length >= bytes ? head : head + 'x'.repeat(bytes - head.length)
}

async function run (cmd: RunCmd): Promise<void> {
  const latency = build(HIST_OPTS)
  const ackLatency = build(HIST_OPTS)
  const state: RunState = {
    runId: cmd.runId,
    endAt: cmd.startAt + cmd.durationMs,
    received: 0,
    receivedInWindow: 0,
    latency,
    lastRecvAt: 0
  }
  current = state
  const disconnectsBefore = disconnects
  let sent = 0
  let acked = 0
  let ackErrors = 0
  let lastSendAt = 0
  const ackErrorCodes: Record<string, number> = {}
  const pubs = cmd.publishers.map((p, i) => ({
    ...p,
    socket: clients[p.client]?.socket,
    // spread the publishers' send instants evenly over one period
    phase: cmd.publishers.length > 0 ? i / cmd.publishers.length : 0,
    done: 0
  }))

  const sendOne = (socket: Socket, roomId: string): void => {
    const t = wallNow()
    lastSendAt = t
    sent++
    socket.emit('message:send', { roomId, text: makeText(cmd.runId, t, cmd.textBytes) }, (ack: Ack) => {
      if (ack?.ok === true) {
        acked++
        ackLatency.recordValue(Math.max(1, Math.round((wallNow() - t) * 1000)))
      } else {
        ackErrors++
        const code = ack?.error?.code ?? 'unknown'
        ackErrorCodes[code] = (ackErrorCodes[code] ?? 0) + 1
      }
    })
  }

  // open-loop schedule: each tick sends whatever is due by now, so a slow server does not
  // slow the offered load (no coordinated omission); bounded by the window's end
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = wallNow()
      const elapsed = Math.min(now, state.endAt) - cmd.startAt
      if (elapsed >= 0) {
        for (const p of pubs) {
          if (p.socket === undefined || !p.socket.connected) continue
          const due = Math.floor((elapsed / 1000) * p.rate + p.phase)
          while (p.done < due) {
            p.done++
            sendOne(p.socket, p.roomId)
          }
        }
      }
      if (now >= state.endAt) {
        clearInterval(timer)
        resolve()
      }
    }
    const timer = setInterval(tick, 5)
  })

  // drain: until every ack is in and nothing arrived for 300 ms, at most drainMs
  const drainEnd = wallNow() + cmd.drainMs
  await new Promise<void>((resolve) => {
    const check = (): void => {
      const now = wallNow()
      const quiet = now - Math.max(state.lastRecvAt, lastSendAt) > 300
      if (now >= drainEnd || (quiet && acked + ackErrors >= sent)) {
        clearInterval(timer)
        resolve()
      }
    }
    const timer = setInterval(check, 50)
  })
  current = null

  const result: RunResultMsg = {
    type: 'result',
    reqId: cmd.reqId,
    sent,
    acked,
    ackErrors,
    ackErrorCodes,
    received: state.received,
    receivedInWindow: state.receivedInWindow,
    stale,
    disconnects: disconnects - disconnectsBefore,
    disconnectReasons: { ...disconnectReasons },
    latency: encodeIntoCompressedBase64(latency),
    ackLatency: encodeIntoCompressedBase64(ackLatency),
    lastSendAt,
    lastRecvAt: state.lastRecvAt
  }
  stale = 0
  send(result)
}

function disconnectAll (reqId: number): void {
  let n = 0
  for (const c of clients) {
    if (c === null) continue
    n++
    c.socket.removeAllListeners()
    c.socket.close()
  }
  clients.length = 0
  send({ type: 'disconnected', reqId, closed: n })
}

process.on('message', (raw: unknown) => {
  const cmd = raw as WorkerCmd
  const fail = (err: unknown): void => {
    send({ type: 'error', reqId: cmd.reqId, message: err instanceof Error ? err.message : String(err) })
  }
  switch (cmd.type) {
    case 'connect': connect(cmd).catch(fail); break
    case 'run': run(cmd).catch(fail); break
    case 'disconnect': disconnectAll(cmd.reqId); break
  }
})

// the runner is gone (crash, SIGKILL): do not linger holding sockets
process.on('disconnect', () => process.exit(0))
