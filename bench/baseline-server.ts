/**
 * Baseline for the benchmarks: the minimal chat server from the Socket.IO docs, with the same
 * socket.io version and transport settings as Switchboard, and nothing else (no auth, no
 * history, no presence, no rate limits). Ratios in BENCHMARKS.md are Switchboard / this.
 *
 * PORT (and HOST, default 127.0.0.1) from the environment; GET /health/ready answers 200.
 * With REDIS_URL it runs on `@socket.io/redis-adapter` (ioredis pub + sub clients on that Redis):
 * the multi-instance setup the common Socket.IO scaling guides ship, still with nothing else
 * (a broadcast is encoded, published and echoed through Redis; no history, no durability).
 */
import { createServer } from 'node:http'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
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

const redisUrl = process.env.REDIS_URL
const redisClients: Redis[] = []
if (redisUrl !== undefined && redisUrl !== '') {
  const pub = new Redis(redisUrl)
  const sub = pub.duplicate()
  redisClients.push(pub, sub)
  io.adapter(createAdapter(pub, sub))
}

let seq = 0

io.on('connection', (socket) => {
  socket.on('room:join', (payload: JoinPayload, ack?: AckFn) => {
    const roomId = String(payload?.roomId)
    // synchronous with the in-memory adapter; the redis adapter subscribes nothing per room
    // (it publishes on one channel per namespace), so the join is local here too
    socket.join(roomId)
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
  io.close().catch(() => {}).finally(() => { for (const c of redisClients) c.disconnect() })
  setTimeout(() => process.exit(0), 500).unref()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
