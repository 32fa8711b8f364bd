/**
 * Graceful drain (SPEC §8): on SIGTERM readiness goes 503, new connections are refused,
 * `server:shutdown` reaches every socket, sockets are closed in batches spread over the drain,
 * Redis is closed, and the process exits 0 within SHUTDOWN_GRACE_MS, leaving no Redis
 * connection and no error in its log.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { connect, ack, type ClientSocket } from '../helpers/socket.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'

const redis = await startRedis()
t.teardown(redis.close)

async function sbClients (r: Redis, port: number): Promise<number> {
  // the instance names its connections sb-*; laddr is the Redis side of a connection, so this
  // counts sb-* connections to this file's own Redis (only the instance under test uses it)
  const list = await r.client('LIST') as string
  return list.split('\n').filter(l => /name=sb-/.test(l) && l.includes(`laddr=127.0.0.1:${port}`)).length
}

for (const mode of ['memory', 'redis'] as const) {
  t.test(`SIGTERM drain (${mode})`, async (t) => {
    const grace = 3000
    const env: Record<string, string> = { SHUTDOWN_GRACE_MS: String(grace), LOG_LEVEL: 'info' }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('drain') })
    const server = await spawnServer(t, env)
    const admin = new Redis(redis.url)
    t.teardown(() => admin.disconnect())
    if (mode === 'redis') t.ok(await sbClients(admin, redis.port) > 0, 'the instance holds Redis connections')

    const clients: ClientSocket[] = []
    const shutdownAt: number[] = []
    const closedAt: number[] = []
    const reasons: string[] = []
    for (let i = 0; i < 30; i++) {
      const s = await connect(server.url, token({ sub: `u${i}` }), {
        onCreate: (c) => {
          c.on('server:shutdown', (e: { reconnectInMs: number }) => { shutdownAt.push(e.reconnectInMs) })
          c.on('disconnect', (reason: string) => { closedAt.push(Date.now()); reasons.push(reason) })
        }
      })
      await ack(s, 'room:join', { roomId: 'lobby' })
      clients.push(s)
    }

    const t0 = Date.now()
    server.proc.kill('SIGTERM')
    // readiness flips as soon as the signal is handled; liveness stays
    let ready = { status: 0, body: null as unknown }
    await until(async () => {
      ready = await http(`${server.url}/health/ready`).catch(() => ({ status: 0, body: null }))
      return ready.status !== 200
    }, 1000, 10)
    t.equal(ready.status, 503, 'ready is 503 while draining')
    t.match(ready.body, { status: 'draining' })
    ready = await http(`${server.url}/health/live`).catch(() => ({ status: 0, body: null }))
    t.equal(ready.status, 200, 'live is 200 while draining')
    // refused at the transport (HTTP 503 on the Engine.IO handshake), which socket.io-client retries
    const refused = await connect(server.url, token({ sub: 'late' })).then(() => undefined, (e: Error & { type?: string, data?: unknown }) => e)
    t.equal(refused?.message, 'websocket error', 'a new connection is refused at the transport')
    t.equal(refused?.data, undefined, 'not a namespace connect_error')
    const handshake = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`).then(r => r.status, () => 0)
    t.equal(handshake, 503, 'a polling handshake is answered 503')

    const code = await server.exited
    const took = Date.now() - t0
    t.equal(code, 0, 'exit code 0')
    t.ok(took < grace, `exited within SHUTDOWN_GRACE_MS (${took} ms < ${grace} ms)`)
    t.equal(shutdownAt.length, 30, 'every socket got server:shutdown')
    t.equal(reasons.length, 30, 'every socket was closed')
    t.ok(reasons.every(r => r === 'transport close'), 'closed at the transport, so clients reconnect by themselves')
    const spread = Math.max(...closedAt) - Math.min(...closedAt)
    t.ok(spread >= grace * 0.25, `closes were spread over the drain (${spread} ms)`)
    t.ok(new Set(shutdownAt).size > 1, 'reconnectInMs differs between batches')

    const out = server.output()
    t.notMatch(out, /Connection is closed|unhandled|"level":50|"level":60/, 'no errors in the log')
    t.match(out, /sockets drained/)
    if (mode === 'redis') t.equal(await sbClients(admin, redis.port), 0, 'no Redis connection left behind')
    for (const c of clients) c.close()
  })
}
