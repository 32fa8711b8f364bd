/**
 * What the registry could not record while Redis was away is rewritten by the next heartbeat:
 * here Redis is killed (losing every key), a user connects and joins a room meanwhile, and once
 * Redis is back — empty — presence, room presence and stats converge to the truth by themselves.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect, ack } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

t.test('registry writes lost while Redis is down are repaired by the heartbeat', async (t) => {
  const redis = await startRedis({ own: true })
  t.teardown(redis.close)
  const { url } = await startApp(t, {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix('presence-repair'),
    PRESENCE_TTL_MS: '1500',
    RATE_LIMIT_HTTP_MAX: '0',
    RATE_LIMIT_EVENTS_PER_MINUTE: '0',
    RATE_LIMIT_CONNECTIONS_PER_10S: '0'
  })
  const reader = token({ sub: 'reader' })
  const state = async (userId: string): Promise<any> => await http(`${url}/v1/presence/${userId}`, { token: reader })

  const early = await connect(url, token({ sub: 'early' }))
  await ack(early, 'room:join', { roomId: 'den' })
  t.match((await state('early')).body, { status: 'online' })

  await redis.stop()
  const kim = await connect(url, token({ sub: 'kim' }))
  t.same(await ack(kim, 'room:join', { roomId: 'den' }), { ok: true, roomId: 'den' }, 'joining does not fail with Redis')
  const down = await state('kim')
  t.equal(down.status, 503, 'reads are unavailable while Redis is down')
  t.equal(down.body.code, 'unavailable')

  await redis.start()
  await until(async () => (await state('kim')).body.status === 'online', 10_000)
  t.match((await state('kim')).body, { status: 'online', connections: 1 }, 'the lost connect was rewritten')
  t.match((await state('early')).body, { status: 'online', connections: 1 }, 'entries lost with Redis\'s data were rewritten')
  await until(async () => (await http(`${url}/v1/rooms/den/presence`, { token: reader })).body.users?.length === 2, 10_000)
  t.same((await http(`${url}/v1/rooms/den/presence`, { token: reader })).body.users, [
    { userId: 'early', connections: 1 },
    { userId: 'kim', connections: 1 }
  ], 'room memberships too')

  kim.close()
  await until(async () => (await state('kim')).body.status === 'offline')
  t.match((await state('kim')).body, { connections: 0, lastSeenAt: Number })
  early.close()
})
