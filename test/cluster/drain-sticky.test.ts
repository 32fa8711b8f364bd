/**
 * A drain never strands a client (SPEC §8 "Graceful drain"): two real instances on one Redis
 * behind a sticky TCP balancer (test/helpers/sticky-proxy.ts, like nginx `ip_hash` +
 * `max_fails`). Every client sticks to instance A. SIGTERM A: the clients whose transports are
 * closed reconnect during the drain and land on A again until the balancer moves on; A must
 * refuse them in a way socket.io-client retries (HTTP 503 on the Engine.IO handshake), never a
 * namespace `connect_error` or `io server disconnect`, which it treats as final. Every client is
 * connected again within SHUTDOWN_GRACE_MS + 10 s, and none gave up.
 */
import t from 'tap'
import { io as ioc, type Socket } from 'socket.io-client'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { stickyProxy } from '../helpers/sticky-proxy.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'

const CLIENTS = 40
const GRACE_MS = 4000

const redis = await startRedis()
t.teardown(redis.close)

interface Tracked {
  socket: Socket
  connects: number
  reasons: string[]
  connectErrors: string[]
}

for (const adapter of ['redis', 'redis-streams'] as const) {
  t.test(`SIGTERM behind a sticky balancer strands no client (ADAPTER=${adapter})`, async (t) => {
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: uniquePrefix(`drain-sticky-${adapter}`),
      ADAPTER: adapter,
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      // the clients all come from 127.0.0.1, like users behind one NAT
      RATE_LIMIT_CONNECTIONS_PER_10S: '0'
    }
    const [a, b] = await Promise.all([spawnServer(t, env), spawnServer(t, env)])
    const proxy = await stickyProxy([a.port, b.port])
    t.teardown(proxy.close)

    const tracked: Tracked[] = []
    for (let i = 0; i < CLIENTS; i++) {
      // socket.io-client defaults: polling then upgrade, reconnection with backoff
      const socket = ioc(proxy.url, { auth: { token: token({ sub: `u${i}` }) }, forceNew: true })
      const tr: Tracked = { socket, connects: 0, reasons: [], connectErrors: [] }
      socket.on('connect', () => { tr.connects++ })
      socket.on('disconnect', (reason) => { tr.reasons.push(reason) })
      socket.on('connect_error', (err) => { tr.connectErrors.push(err.message) })
      tracked.push(tr)
    }
    t.teardown(() => { for (const tr of tracked) tr.socket.close() })
    await until(() => tracked.every(tr => tr.socket.connected), 30_000, 50)
    t.equal(proxy.stats[1].connections, 0, 'every client is on instance A')

    const t0 = Date.now()
    a.proc.kill('SIGTERM')
    const deadline = GRACE_MS + 10_000
    // every client ends connected again or given up for good (socket.active false)
    await until(() => tracked.every(tr => !tr.socket.active || (tr.reasons.length > 0 && tr.socket.connected)), deadline, 50).catch(() => {})
    const took = Date.now() - t0

    const gaveUp = tracked.filter(tr => !tr.socket.active)
    const back = tracked.filter(tr => tr.reasons.length > 0 && tr.socket.connected)
    const serverDisconnects = tracked.filter(tr => tr.reasons.includes('io server disconnect'))
    const refusals = tracked.flatMap(tr => tr.connectErrors).filter(m => m === 'unavailable' || m === 'rate_limited')
    t.comment(`ADAPTER=${adapter}: ${back.length}/${CLIENTS} connected again in ${took} ms; gave up: ${gaveUp.length}; io server disconnect: ${serverDisconnects.length}; namespace refusals: ${refusals.length}; 503s seen by the balancer: ${proxy.stats[0].status503}`)
    t.equal(gaveUp.length, 0, 'no client gave up (socket.active stays true)')
    t.equal(serverDisconnects.length, 0, 'no client saw io server disconnect')
    t.equal(refusals.length, 0, 'no namespace connect_error')
    t.equal(back.length, CLIENTS, `every client is connected again within SHUTDOWN_GRACE_MS + 10 s (${took} ms)`)
    t.ok(tracked.every(tr => tr.reasons.every(r => r === 'transport close' || r === 'transport error')), 'disconnected only at the transport')
    t.equal(await a.exited, 0, 'the drained instance exits 0')
    t.ok(proxy.stats[1].connections > 0, 'the clients are on instance B now')
  })
}
