/**
 * REST presence and the user endpoints for services (SPEC §6), in-process and on Redis:
 * GET /v1/presence/:userId, POST /v1/presence/query (1000 ids, request order, measured),
 * GET /v1/rooms/:roomId/presence (room rule of room:join), POST /v1/users/:userId/notifications,
 * DELETE /v1/users/:userId/connections.
 */
import t, { type Test } from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect, ack, next, collect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

const limitsOff = { RATE_LIMIT_HTTP_MAX: '0', RATE_LIMIT_EVENTS_PER_MINUTE: '0', RATE_LIMIT_CONNECTIONS_PER_10S: '0' }
const user = token({ sub: 'reader' })
const service = token({ sub: 'billing', role: 'service' })
const admin = token({ sub: 'ops', role: 'admin' })

for (const mode of ['memory', 'redis'] as const) {
  const start = async (t: Test, extra: Record<string, string> = {}): Promise<string> => {
    const env: Record<string, string> = { ...limitsOff, ...extra }
    if (mode === 'redis') {
      const r = await startRedis()
      t.teardown(r.close)
      env.REDIS_URL = r.url
      env.REDIS_KEY_PREFIX = uniquePrefix('presence-rest')
    }
    return (await startApp(t, env)).url
  }

  t.test(`GET /v1/presence/:userId (${mode})`, async (t) => {
    const url = await start(t)
    t.equal((await http(`${url}/v1/presence/bob`)).status, 401, 'a token is required')
    t.same((await http(`${url}/v1/presence/bob`, { token: user })).body, { userId: 'bob', status: 'offline', connections: 0, lastSeenAt: null })
    const bob = await connect(url, token({ sub: 'bob' }))
    const r = await http(`${url}/v1/presence/bob`, { token: user })
    t.equal(r.status, 200)
    t.match(r.body, { userId: 'bob', status: 'online', connections: 1, lastSeenAt: Number })
    const odd = 'ünï cødé/#?' + 'x'.repeat(100)
    t.equal(odd.length, 111)
    t.same((await http(`${url}/v1/presence/${encodeURIComponent(odd)}`, { token: user })).body.userId, odd, 'any sub of up to 128 characters, url-encoded')
    t.equal((await http(`${url}/v1/presence/${'y'.repeat(129)}`, { token: user })).body.code, 'invalid_payload')
    bob.close()
  })

  t.test(`POST /v1/presence/query answers 1000 ids in request order (${mode})`, async (t) => {
    const url = await start(t)
    const online = ['u-0007', 'u-0500', 'u-0999']
    const sockets = await Promise.all(online.map(async sub => await connect(url, token({ sub }))))
    const gone = await connect(url, token({ sub: 'u-0003' }))
    gone.close()
    await until(async () => (await http(`${url}/v1/presence/u-0003`, { token: user })).body.lastSeenAt !== null)

    // reversed, so request order is not the natural order
    const ids = Array.from({ length: 1000 }, (_, i) => `u-${String(999 - i).padStart(4, '0')}`)
    const r = await http(`${url}/v1/presence/query`, { token: user, body: { userIds: ids } })
    t.equal(r.status, 200)
    t.same(r.body.users.map((u: any) => u.userId), ids, 'request order')
    const byId = new Map<string, any>(r.body.users.map((u: any) => [u.userId, u]))
    for (const id of online) t.match(byId.get(id), { status: 'online', connections: 1 })
    t.match(byId.get('u-0003'), { status: 'offline', connections: 0, lastSeenAt: Number })
    t.same(byId.get('u-0042'), { userId: 'u-0042', status: 'offline', connections: 0, lastSeenAt: null }, 'unknown ids are offline, never seen')
    t.equal(r.body.users.filter((u: any) => u.status === 'online').length, 3)

    // the latency of a 1000-id query, median of several
    const times: number[] = []
    for (let i = 0; i < 9; i++) {
      const started = performance.now()
      const q = await http(`${url}/v1/presence/query`, { token: user, body: { userIds: ids } })
      times.push(performance.now() - started)
      t.equal(q.body.users.length, 1000)
    }
    times.sort((a, b) => a - b)
    t.comment(`1000-id POST /v1/presence/query (${mode}): median ${times[4].toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[8].toFixed(1)} ms over 9 runs`)

    t.same((await http(`${url}/v1/presence/query`, { token: user, body: { userIds: [] } })).body, { users: [] })
    t.same((await http(`${url}/v1/presence/query`, { token: user, body: { userIds: ['a', 'a'] } })).body.users.map((u: any) => u.userId), ['a', 'a'])
    const longIds = Array.from({ length: 1000 }, (_, i) => `${i}-`.padEnd(128, 'z'))
    t.equal((await http(`${url}/v1/presence/query`, { token: user, body: { userIds: longIds } })).status, 200, '1000 ids of 128 characters fit the body limit')
    for (const body of [{ userIds: [...ids, 'one-more'] }, { userIds: [''] }, { userIds: [{}] }, {}, { userIds: ['a'], x: 1 }]) {
      const bad = await http(`${url}/v1/presence/query`, { token: user, body })
      t.equal(bad.status, 400, JSON.stringify(body).slice(0, 40))
      t.equal(bad.body.code, 'invalid_payload')
    }
    t.equal((await http(`${url}/v1/presence/query`, { body: { userIds: ['a'] } })).status, 401)
    for (const s of sockets) s.close()
  })

  t.test(`GET /v1/rooms/:roomId/presence follows the room rule of room:join (${mode})`, async (t) => {
    const url = await start(t, { ROOM_ACCESS: 'claims' })
    const ann1 = await connect(url, token({ sub: 'ann', rooms: ['team:*'] }))
    const ann2 = await connect(url, token({ sub: 'ann', rooms: ['team:*'] }))
    const bob = await connect(url, token({ sub: 'bob', rooms: ['team:*'] }))
    for (const s of [ann1, ann2, bob]) t.equal((await ack(s, 'room:join', { roomId: 'team:1' })).ok, true)
    await ack(ann1, 'room:join', { roomId: 'team:2' })

    const member = token({ sub: 'carl', rooms: ['team:*'] })
    const r = await http(`${url}/v1/rooms/team:1/presence`, { token: member })
    t.equal(r.status, 200)
    t.same(r.body, { roomId: 'team:1', users: [{ userId: 'ann', connections: 2 }, { userId: 'bob', connections: 1 }] })
    t.same((await http(`${url}/v1/rooms/team:1/presence`, { token: service })).body.users.length, 2, 'services may use every room')
    t.same((await http(`${url}/v1/rooms/empty/presence`, { token: admin })).body, { roomId: 'empty', users: [] })

    t.equal((await http(`${url}/v1/rooms/team:1/presence`, { token: token({ sub: 'eve' }) })).body.code, 'forbidden', 'no rooms claim under ROOM_ACCESS=claims')
    t.equal((await http(`${url}/v1/rooms/team:1/presence`, { token: token({ sub: 'eve', rooms: ['lobby'] }) })).status, 403)
    t.equal((await http(`${url}/v1/rooms/user:ann/presence`, { token: admin })).body.code, 'forbidden', 'reserved rooms are nobody\'s to read')
    t.equal((await http(`${url}/v1/rooms/${encodeURIComponent('~presence:ann')}/presence`, { token: admin })).body.code, 'invalid_payload')
    t.equal((await http(`${url}/v1/rooms/team:1/presence`)).status, 401)

    await ack(ann1, 'room:leave', { roomId: 'team:1' })
    t.same((await http(`${url}/v1/rooms/team:1/presence`, { token: member })).body.users, [{ userId: 'ann', connections: 1 }, { userId: 'bob', connections: 1 }])
    bob.close()
    await until(async () => (await http(`${url}/v1/rooms/team:1/presence`, { token: member })).body.users.length === 1)
    t.same((await http(`${url}/v1/rooms/team:1/presence`, { token: member })).body.users, [{ userId: 'ann', connections: 1 }], 'a disconnect leaves every room')
    ann1.close()
    ann2.close()
  })

  t.test(`POST /v1/users/:userId/notifications (${mode})`, async (t) => {
    const url = await start(t)
    const tab1 = await connect(url, token({ sub: 'dana' }))
    const tab2 = await connect(url, token({ sub: 'dana' }))
    const other = await connect(url, token({ sub: 'eli' }))
    const otherHeard = collect(other, 'notification')

    t.equal((await http(`${url}/v1/users/dana/notifications`, { token: user, body: { type: 'x' } })).body.code, 'forbidden', 'users may not notify')
    t.equal((await http(`${url}/v1/users/dana/notifications`, { body: { type: 'x' } })).status, 401)
    for (const body of [{}, { type: '' }, { type: 'x', extra: 1 }, { type: {} }]) {
      t.equal((await http(`${url}/v1/users/dana/notifications`, { token: service, body })).body.code, 'invalid_payload', JSON.stringify(body))
    }

    const got = [next(tab1, 'notification'), next(tab2, 'notification')]
    const before = Date.now()
    const r = await http(`${url}/v1/users/dana/notifications`, { token: service, body: { type: 'invoice.paid', data: { amount: 42, items: ['a'] } } })
    t.equal(r.status, 202)
    t.same(r.body, { delivered: 2 }, 'delivered counts the user\'s live connections')
    for (const n of await Promise.all(got)) {
      t.match(n, { type: 'invoice.paid', data: { amount: 42, items: ['a'] } })
      t.ok(n.at >= before - 1000 && n.at <= Date.now() + 1000, 'at is epoch ms')
    }
    const noData = next(tab1, 'notification')
    t.same((await http(`${url}/v1/users/dana/notifications`, { token: admin, body: { type: 'ping' } })).body, { delivered: 2 })
    t.same((await noData).data, null, 'data is null when absent')
    t.same((await http(`${url}/v1/users/nobody/notifications`, { token: service, body: { type: 'x', data: 1 } })).body, { delivered: 0 })
    // the barrier: eli's own notification, sent last, reaches eli after any leaked one
    t.same((await http(`${url}/v1/users/eli/notifications`, { token: service, body: { type: 'barrier' } })).body, { delivered: 1 })
    await until(() => otherHeard.some(n => n.type === 'barrier'))
    t.same(otherHeard.slice(0, otherHeard.findIndex(n => n.type === 'barrier')), [], 'another user hears nothing')
    for (const s of [tab1, tab2, other]) s.close()
  })

  t.test(`DELETE /v1/users/:userId/connections (${mode})`, async (t) => {
    const url = await start(t)
    const tabs = await Promise.all([1, 2, 3].map(async () => await connect(url, token({ sub: 'finn' }))))
    const bystander = await connect(url, token({ sub: 'gus' }))
    t.equal((await http(`${url}/v1/users/finn/connections`, { method: 'DELETE', token: user })).body.code, 'forbidden')
    const closed = tabs.map(async s => await new Promise<string>(resolve => s.once('disconnect', resolve)))
    const r = await http(`${url}/v1/users/finn/connections`, { method: 'DELETE', token: service })
    t.equal(r.status, 200)
    t.same(r.body, { disconnected: 3 })
    t.same(await Promise.all(closed), ['io server disconnect', 'io server disconnect', 'io server disconnect'])
    await until(async () => (await http(`${url}/v1/presence/finn`, { token: user })).body.status === 'offline')
    t.equal(bystander.connected, true, 'other users stay connected')
    t.same((await http(`${url}/v1/users/finn/connections`, { method: 'DELETE', token: admin })).body, { disconnected: 0 })
    bystander.close()
  })
}
