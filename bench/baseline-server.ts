/**
 * Baseline for the benchmarks: the minimal chat server from the Socket.IO docs, with the same
 * socket.io version and transport settings as Switchboard, and nothing else (no auth, no
 * history, no presence, no rate limits). Ratios in BENCHMARKS.md are Switchboard / this.
 *
 * PORT (and HOST, default 127.0.0.1) from the environment; GET /health/ready answers 200.
 */
import { createServer } from 'node:http'
import { Server } from 'socket.io'

interface JoinPayload { roomId?: unknown }
interface SendPayload { roomId?: unknown, text?: unknown, clientMsgId?: unknown }
type AckFn = (answer: unknown) => void

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'

const httpServer = createServer((req, res) => {
  if (req.url === '/health/ready' || req.url === '/health/live') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"status":"ok"}')
    return
  }
  res.writeHead(404)
  res.end()
})

const io = new Server(httpServer, {
  transports: ['websocket', 'polling'],
  perMessageDeflate: false,
  maxHttpBufferSize: 65536
})

let seq = 0

io.on('connection', (socket) => {
  socket.on('room:join', (payload: JoinPayload, ack?: AckFn) => {
    const roomId = String(payload?.roomId)
    socket.join(roomId) // synchronous with the in-memory adapter
    if (typeof ack === 'function') ack({ ok: true, roomId })
  })

  socket.on('message:send', (payload: SendPayload, ack?: AckFn) => {
    const roomId = String(payload?.roomId)
    const message = {
      id: String(++seq),
      roomId,
      userId: socket.id,
      text: String(payload?.text),
      at: Date.now()
    }
    io.to(roomId).emit('message:new', message)
    if (typeof ack === 'function') ack({ ok: true, message })
  })
})

httpServer.listen(port, host, () => {
  process.stdout.write(`baseline ready on http://${host}:${port}\n`)
})

/** Closes sockets and the listener so SIGTERM exits promptly. */
function shutdown (): void {
  io.close().catch(() => {})
  setTimeout(() => process.exit(0), 500).unref()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
