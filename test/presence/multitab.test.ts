/**
 * SPEC §8 "Presence is per connection": closing one of two tabs changes nothing; closing the
 * last one emits `offline` within 1 s, with lastSeenAt set — in-process and on Redis.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect, ack, next, collect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

for (const mode of ['memory', 'redis'] as const) {
  t.test(`two tabs: closing one changes nothing, closing the last is offline within 1 s (${mode})`, async (t) => {
    const env: Record<string, string> = { RATE_LIMIT_HTTP_MAX: '0', RATE_LIMIT_EVENTS_PER_MINUTE: '0', RATE_LIMIT_CONNECTIONS_PER_10S: '0' }
    if (mode === 'redis') {
      const r = await startRedis()
      t.teardown(r.close)
      env.REDIS_URL = r.url
      env.REDIS_KEY_PREFIX = uniquePrefix('multitab')
    }
    const { url } = await startApp(t, env)
    const reader = token({ sub: 'reader' })
    const presenceOf = async (userId: string): Promise<any> => (await http(`${url}/v1/presence/${userId}`, { token: reader })).body

    const watcher = await connect(url, token({ sub: 'watcher' }))
    const first = await ack(watcher, 'presence:subscribe', { userIds: ['alice', 'sentinel'] })
    t.same(first, {
      ok: true,
      users: [
        { userId: 'alice', status: 'offline', connections: 0, lastSeenAt: null },
        { userId: 'sentinel', status: 'offline', connections: 0, lastSeenAt: null }
      ]
    })
    const events = collect(watcher, 'presence')

    const online = next(watcher, 'presence')
    const tab1 = await connect(url, token({ sub: 'alice' }))
    t.match(await online, { userId: 'alice', status: 'online', connections: 1 })
    const tab2 = await connect(url, token({ sub: 'alice' }))
    await until(async () => (await presenceOf('alice')).connections === 2)

    tab1.close()
    await until(async () => (await presenceOf('alice')).connections === 1)
    t.match(await presenceOf('alice'), { status: 'online', connections: 1 })
    // an edge caused after the close arrives after any edge the close caused: if alice had
    // gone offline, the watcher would have heard it before the sentinel's online
    const sentinelOnline = next(watcher, 'presence')
    const sentinel = await connect(url, token({ sub: 'sentinel' }))
    t.match(await sentinelOnline, { userId: 'sentinel', status: 'online' })
    t.same(events.map(e => `${e.userId}:${e.status}`), ['alice:online', 'sentinel:online'], 'closing one tab is no event')

    const offline = next(watcher, 'presence', 1000)
    const closedAt = Date.now()
    tab2.close()
    const edge = await offline
    const tookMs = Date.now() - closedAt
    t.comment(`last tab closed → offline event in ${tookMs} ms (${mode})`)
    t.ok(tookMs < 1000, 'offline within 1 s')
    t.match(edge, { userId: 'alice', status: 'offline', connections: 0 })
    t.ok(typeof edge.lastSeenAt === 'number' && Math.abs(edge.lastSeenAt - closedAt) < 1000, 'lastSeenAt is when the last tab closed')
    t.same(await presenceOf('alice'), edge, 'REST agrees with the event')
    sentinel.close()
  })
}
