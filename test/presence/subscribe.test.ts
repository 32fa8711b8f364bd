/**
 * presence:subscribe / presence:unsubscribe (SPEC §5): payload validation, the 500-ids-per-socket
 * limit (`forbidden`, all or nothing, like the rooms limit), events only to subscribers, and the
 * internal presence rooms staying out of the rooms limit and out of clients' reach.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { until } from '../helpers/net.js'
import { connect, ack, next, collect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'

const env = { RATE_LIMIT_EVENTS_PER_MINUTE: '0', RATE_LIMIT_CONNECTIONS_PER_10S: '0', MAX_ROOMS_PER_SOCKET: '2' }
const ids = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `user-${from + i}`)

t.test('bad payloads are invalid_payload with details', async (t) => {
  const { url } = await startApp(t, env)
  const s = await connect(url, token({ sub: 'w' }))
  const bad: unknown[] = [
    undefined,
    {},
    { userIds: [] },
    { userIds: 'bob' },
    { userIds: [''] },
    { userIds: ['x'.repeat(129)] },
    { userIds: [42] },
    { userIds: ['bob'], extra: 1 },
    { userIds: ids(501) }
  ]
  for (const payload of bad) {
    for (const event of ['presence:subscribe', 'presence:unsubscribe']) {
      const r = payload === undefined ? await ack(s, event) : await ack(s, event, payload)
      t.equal(r.error?.code, 'invalid_payload', `${event} ${JSON.stringify(payload)?.slice(0, 40)}`)
      t.ok(Array.isArray(r.error?.details) && r.error.details.length > 0, 'details list the failing paths')
    }
  }
  t.same(await ack(s, 'presence:subscribe', { userIds: ['x'.repeat(128)] }), {
    ok: true, users: [{ userId: 'x'.repeat(128), status: 'offline', connections: 0, lastSeenAt: null }]
  }, '128 characters is a valid id')
})

t.test('at most 500 followed ids per socket, in total; all or nothing', async (t) => {
  const { url } = await startApp(t, env)
  const s = await connect(url, token({ sub: 'w' }))
  const a = await ack(s, 'presence:subscribe', { userIds: ids(300) })
  t.equal(a.ok, true)
  t.equal(a.users.length, 300)
  t.equal((await ack(s, 'presence:subscribe', { userIds: ids(200, 300) })).ok, true, '500 in total is fine')
  t.equal((await ack(s, 'presence:subscribe', { userIds: ids(500) })).ok, true, 'ids already followed do not count twice')

  const over = await ack(s, 'presence:subscribe', { userIds: ['user-0', 'one-too-many'] })
  t.equal(over.ok, false)
  t.equal(over.error.code, 'forbidden', 'over the limit is forbidden')
  t.match(over.error.message, /500/)

  // nothing of a refused request was applied: 'one-too-many' is not followed
  const other = await connect(url, token({ sub: 'other' }))
  t.teardown(() => other.close())
  const heard = collect(s, 'presence')
  await ack(s, 'presence:unsubscribe', { userIds: ['user-1', 'user-1', 'not-followed'] })
  const tooMany = await connect(url, token({ sub: 'one-too-many' }))
  tooMany.close()
  const edge = next(s, 'presence')
  const u0 = await connect(url, token({ sub: 'user-0' }))
  t.match(await edge, { userId: 'user-0', status: 'online' })
  t.same(heard.map(e => e.userId), ['user-0'], 'no event for an id the refused request named')
  u0.close()

  t.equal((await ack(s, 'presence:subscribe', { userIds: ['one-too-many'] })).ok, true, 'room again after unsubscribing one')
  t.equal((await ack(s, 'presence:subscribe', { userIds: ['user-1'] })).error?.code, 'forbidden')
})

t.test('the answer has one state per requested id, in request order', async (t) => {
  const { url } = await startApp(t, env)
  const bob = await connect(url, token({ sub: 'bob' }))
  t.teardown(() => bob.close())
  const s = await connect(url, token({ sub: 'w' }))
  const r = await ack(s, 'presence:subscribe', { userIds: ['zed', 'bob', 'amy', 'bob'] })
  t.same(r.users.map((u: any) => `${u.userId}:${u.status}`), ['zed:offline', 'bob:online', 'amy:offline', 'bob:online'])
  t.match(r.users[1], { connections: 1, lastSeenAt: Number })
})

t.test('events go to subscribers only, and stop after unsubscribe', async (t) => {
  const { url } = await startApp(t, env)
  const sub = await connect(url, token({ sub: 'sub' }))
  const bystander = await connect(url, token({ sub: 'bystander' }))
  const heardByBystander = collect(bystander, 'presence')
  await ack(sub, 'presence:subscribe', { userIds: ['carol', 'dave'] })
  const heard = collect(sub, 'presence')

  let edge = next(sub, 'presence')
  const carol = await connect(url, token({ sub: 'carol' }))
  t.match(await edge, { userId: 'carol', status: 'online' })
  t.same(await ack(sub, 'presence:unsubscribe', { userIds: ['carol'] }), { ok: true })
  carol.close()
  // carol's offline edge has happened before dave's online edge is caused
  await until(async () => (await http(`${url}/v1/presence/carol`, { token: token({ sub: 'x' }) })).body.status === 'offline')
  edge = next(sub, 'presence')
  const dave = await connect(url, token({ sub: 'dave' }))
  t.match(await edge, { userId: 'dave', status: 'online' }, 'dave is still followed')
  t.same(heard.map(e => `${e.userId}:${e.status}`), ['carol:online', 'dave:online'], 'no carol:offline after unsubscribing')
  // the barrier: an edge the bystander does follow, caused now, reaches it after any leaked one
  await ack(bystander, 'presence:subscribe', { userIds: ['sentinel'] })
  const barrier = next(bystander, 'presence')
  const sentinel = await connect(url, token({ sub: 'sentinel' }))
  t.match(await barrier, { userId: 'sentinel', status: 'online' })
  t.same(heardByBystander.slice(0, heardByBystander.findIndex(e => e.userId === 'sentinel')), [], 'a socket that follows nobody hears nothing')
  sentinel.close()
  dave.close()
})

t.test('presence rooms do not count toward MAX_ROOMS_PER_SOCKET and are out of clients\' reach', async (t) => {
  const { url } = await startApp(t, env)
  const s = await connect(url, token({ sub: 'w' }))
  t.equal((await ack(s, 'presence:subscribe', { userIds: ids(5) })).ok, true)
  t.same(await ack(s, 'room:join', { roomId: 'one' }), { ok: true, roomId: 'one' })
  // `presence:` is an ordinary room id (SPEC reserves only user: and system:); it follows nobody
  t.same(await ack(s, 'room:join', { roomId: 'presence:user-0' }), { ok: true, roomId: 'presence:user-0' })
  t.equal((await ack(s, 'room:join', { roomId: 'three' })).error?.code, 'forbidden', 'the limit counts chat rooms only')
  for (const roomId of ['~presence:user-0', '~presence:bob']) {
    t.equal((await ack(s, 'room:join', { roomId })).error?.code, 'invalid_payload', `${roomId} cannot be joined`)
    t.equal((await ack(s, 'room:leave', { roomId })).error?.code, 'invalid_payload', `${roomId} cannot be left`)
    t.equal((await ack(s, 'message:send', { roomId, text: 'hi' })).error?.code, 'invalid_payload', `${roomId} cannot be written to`)
  }
  const messages = collect(s, 'message:new')
  const other = await connect(url, token({ sub: 'other' }))
  t.teardown(() => other.close())
  await ack(other, 'room:join', { roomId: 'presence:user-0' })
  const got = next(s, 'message:new')
  await ack(other, 'message:send', { roomId: 'presence:user-0', text: 'an ordinary room' })
  t.match(await got, { roomId: 'presence:user-0', text: 'an ordinary room' })
  t.equal(messages.length, 1)
})
