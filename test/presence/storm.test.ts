/**
 * SPEC §8 "Concurrent connects and disconnects never leave a wrong state": 50 connect /
 * disconnect cycles of one user spread over two real server processes on one Redis, run
 * concurrently. A subscriber on each instance sees the same strictly alternating edges, ending
 * in the true state, and REST on both instances agrees. The delays are seeded (printed; replay
 * with TEST_SEED).
 */
import t from 'tap'
import { spawnServer } from '../helpers/proc.js'
import { http } from '../helpers/app.js'
import { connect, ack, collect, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { sleep, until } from '../helpers/net.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { seededInt } from '../helpers/seed.js'

t.test('50 concurrent connect/disconnect cycles over two instances', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix('storm'),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_HTTP_MAX: '0',
    RATE_LIMIT_EVENTS_PER_MINUTE: '0',
    RATE_LIMIT_CONNECTIONS_PER_10S: '0'
  }
  // one after the other: each start compiles the app, and the machine has two cores
  const a = await spawnServer(t, env)
  const b = await spawnServer(t, env)
  const reader = token({ sub: 'reader' })

  const watchers = await Promise.all([a, b].map(async s => await connect(s.url, token({ sub: 'watcher' }))))
  for (const w of watchers) t.equal((await ack(w, 'presence:subscribe', { userIds: ['storm', 'sentinel'] })).users[0].status, 'offline')
  const seen = watchers.map(w => collect(w, 'presence'))

  const cycles = 50
  // drawn up front, so a replayed seed gives each cycle the same delays whatever the interleaving
  const random = seededInt(t)
  const delays = Array.from({ length: cycles }, () => [random(0, 79), random(0, 29)])
  const userToken = token({ sub: 'storm' })
  const run = async (i: number): Promise<void> => {
    await sleep(delays[i][0])
    const s = await connect((i % 2 === 0 ? a : b).url, userToken)
    await sleep(delays[i][1])
    const closed = new Promise(resolve => s.once('disconnect', resolve))
    s.close()
    await closed
  }
  // five workers of ten cycles each: connects and disconnects overlap on both instances, with
  // gaps in between, so the user flips between online and offline many times
  await Promise.all(Array.from({ length: 5 }, async (_, w) => {
    for (let k = 0; k < cycles / 5; k++) await run(w + k * 5)
  }))

  // every disconnect has reached the registry once REST on both instances says offline
  for (const s of [a, b]) {
    await until(async () => (await http(`${s.url}/v1/presence/storm`, { token: reader })).body.status === 'offline', 5000)
  }
  // an edge caused now arrives after every storm edge, on both instances
  const sentinelSeen = watchers.map(async w => await next(w, 'presence', 5000))
  const sentinel = await connect(b.url, token({ sub: 'sentinel' }))
  for (const e of await Promise.all(sentinelSeen)) t.match(e, { userId: 'sentinel', status: 'online' })
  sentinel.close()

  const edges = seen.map(list => list.filter(e => e.userId === 'storm').map(e => e.status as string))
  t.comment(`edges seen: ${edges[0].length} (${edges[0].join(' ').replace(/online offline/g, '↑↓')})`)
  t.ok(edges[0].length >= 2, 'at least one online and one offline edge')
  t.ok(edges[0].every((st, i) => st === (i % 2 === 0 ? 'online' : 'offline')), 'edges strictly alternate, starting online')
  t.equal(edges[0][edges[0].length - 1], 'offline', 'and end in the true state')
  t.same(edges[1], edges[0], 'both instances\' subscribers saw the same sequence')
  const last = seen[0].filter(e => e.userId === 'storm').at(-1)
  t.same((await http(`${a.url}/v1/presence/storm`, { token: reader })).body, last, 'REST agrees with the last edge')
  t.same((await http(`${b.url}/v1/presence/storm`, { token: reader })).body, last)

  // and the true state "online" is reached just as well
  const online = watchers.map(async w => await next(w, 'presence', 5000))
  const stay = await connect(a.url, userToken)
  for (const e of await Promise.all(online)) t.match(e, { userId: 'storm', status: 'online', connections: 1 })
  t.match((await http(`${b.url}/v1/presence/storm`, { token: reader })).body, { status: 'online', connections: 1 })
  stay.close()
})
