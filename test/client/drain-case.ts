/**
 * One drain case for the client tests (SPEC §8, §9): two instances on one Redis behind one
 * balancer URL, the client on the first. SIGTERM it while another client keeps sending through
 * the second: the client hears `server:shutdown`, reconnects (through refusals of the draining
 * instance when the balancer has no health checks), rejoins with `since`, and ends connected
 * with every message exactly once, in order. One case per test file, so each stays short.
 */
import t from 'tap'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { startBalancer } from '../helpers/balancer.js'
import { until, sleep } from '../helpers/net.js'
import { token } from '../helpers/tokens.js'
import { connect, closeAll } from '../helpers/socket.js'
import { countOf, inOrderOnce, recordingClient, unlimited } from './helpers.js'

export async function drainCase (transport: 'websocket' | 'polling', probe: boolean): Promise<void> {
  const redis = await startRedis()
  t.teardown(redis.close)
  t.test(`drain of the client's instance (${transport}, balancer ${probe ? 'with' : 'without'} health checks)`, async (t) => {
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('client-drain'), SHUTDOWN_GRACE_MS: '3000', LOG_LEVEL: 'warn', ...unlimited }
    const [a, b] = await Promise.all([spawnServer(t, env), spawnServer(t, env)])
    const lb = await startBalancer(t, [a, b], { probe })

    const r = recordingClient(t, { url: lb.url, transports: [transport] })
    await r.client.join('d1')
    if (!probe) {
      // other users on the instance keep its drain going (batches over half the grace) while the
      // client, closed in the first batch, comes back to it through the balancer
      t.teardown(closeAll)
      for (let i = 0; i < 20; i++) await connect(a.url, token({ sub: `idle${i}` }))
    }
    const sender = recordingClient(t, { url: b.url, transports: ['websocket'], token: token({ sub: 'sender' }) })
    await sender.client.join('d1')

    const N = 40
    const sending = (async () => {
      for (let i = 0; i < N; i++) {
        await sender.client.send('d1', `n${i}`)
        await sleep(75)
      }
    })()
    await until(() => r.of('d1').length >= 10, 15_000)
    a.proc.kill('SIGTERM')
    await sending
    t.equal(await a.exited, 0, 'the drained instance exits 0')

    await until(() => r.of('d1').length >= N, 30_000)
    await sleep(300)
    t.ok(r.client.connected, 'connected (to the other instance)')
    t.equal(countOf(r, 'shutdown'), 1, 'server:shutdown was seen')
    t.equal(r.of('d1').length, N, 'every message exactly once')
    t.ok(inOrderOnce(r.of('d1')), 'in order')
    t.same(r.of('d1').map(m => m.text), Array.from({ length: N }, (_, i) => `n${i}`))
    t.equal(countOf(r, 'stopped'), 0)
    const refusals = r.events.filter(e => e.event === 'connect_error').map(e => e.data)
    t.comment('refusals on the way:', JSON.stringify(refusals))
    // the draining instance refuses new sessions at the Engine.IO/HTTP level (503, which
    // socket.io-client retries itself; never a namespace connect_error: src/realtime/admission.ts):
    // the client came through. A namespace `unavailable` refusal: unavailable.test.ts
    if (!probe) t.ok(refusals.length > 0, 'reconnects met the draining instance\'s refusals')
  })
}
