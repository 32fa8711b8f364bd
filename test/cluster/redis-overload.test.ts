/**
 * Overload fails fast (issue 11; README "Overload"): at most REDIS_MAX_IN_FLIGHT request
 * commands wait for Redis on one instance; an event past that bound is answered `unavailable`
 * at once (SPEC §4: nothing was written) instead of queueing behind the others to time out at
 * its 2 s deadline (SPEC §8). Made visible with a frozen Redis (SIGSTOP), where nothing in
 * flight ever completes: a burst of sends larger than the bound gets its excess refused within
 * a few hundred ms, the rest within the deadline, and none of them is written.
 */
import t from 'tap'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { connect, ack } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until, sleep } from '../helpers/net.js'
import { REDIS_MAX_IN_FLIGHT } from '../../plugins/redis.js'

t.test('past the in-flight bound a send is refused unavailable at once, and not written', async (t) => {
  const redis = await startRedis({ own: true })
  t.teardown(redis.close)
  const server = await spawnServer(t, {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix('overload'),
    RATE_LIMIT_SEND_BURST: '0',
    RATE_LIMIT_EVENTS_PER_MINUTE: '0'
  })
  const url = server.url
  const svc = token({ sub: 'svc', role: 'service' })
  const sockets = await Promise.all(['alice', 'bob'].map(async sub => await connect(url, token({ sub }))))
  for (const s of sockets) t.equal((await ack(s, 'room:join', { roomId: 'lobby' })).ok, true)

  redis.signal('SIGSTOP')
  let thawed = false
  t.teardown(() => { if (!thawed) redis.signal('SIGCONT') })

  const EXCESS = 300
  const PER_SOCKET = Math.ceil((REDIS_MAX_IN_FLIGHT + EXCESS) / sockets.length)
  const sends = await Promise.all(sockets.flatMap((s, k) => Array.from({ length: PER_SOCKET }, async (_, i) => {
    const started = Date.now()
    const r = await s.timeout(10_000).emitWithAck('message:send', { roomId: 'lobby', text: `ov-${k}-${i}`, clientMsgId: `ov-${k}-${i}` })
    return { code: r.ok === true ? 'ok' : r.error.code as string, ms: Date.now() - started }
  })))
  const fast = sends.filter(s => s.code === 'unavailable' && s.ms < 1000)
  const slowest = Math.max(...sends.map(s => s.ms))
  t.comment(`${sends.length} sends to a frozen Redis: ${fast.length} refused within 1 s, slowest answer ${slowest} ms`)
  t.comment(JSON.stringify(sends.map(s => Math.round(s.ms / 100)).reduce<Record<number, number>>((h, b) => { h[b] = (h[b] ?? 0) + 1; return h }, {})))
  t.equal(sends.filter(s => s.code !== 'unavailable').length, 0, 'every send is answered unavailable')
  t.ok(fast.length >= EXCESS * 0.8, `the excess over ${REDIS_MAX_IN_FLIGHT} in flight is refused at once (${fast.length} of ${sends.length})`)
  t.ok(fast.length < sends.length - REDIS_MAX_IN_FLIGHT / 2, 'the sends within the bound waited for Redis (they were not refused at once)')
  t.ok(slowest < 2000, `every answer within SPEC §8's 2 s (slowest ${slowest} ms)`)

  redis.signal('SIGCONT')
  thawed = true
  await until(async () => (await ack(sockets[0], 'message:send', { roomId: 'lobby', text: 'after' })).ok === true, 15_000, 200)
  await sleep(300)
  const res = await fetch(`${url}/v1/rooms/lobby/messages?limit=100`, { headers: { authorization: `Bearer ${svc}` } })
  const { messages } = await res.json() as { messages: Array<{ text: string }> }
  t.equal(messages.filter(m => m.text.startsWith('ov-')).length, 0, 'no send answered unavailable was written')
  t.ok(messages.some(m => m.text === 'after'), 'writes work again')
  for (const s of sockets) s.close()
})
