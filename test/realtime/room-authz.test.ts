/**
 * Rooms are authorized by the principal, never by Socket.IO's bookkeeping (SPEC §3, §8; issue 9
 * item 2). Every room-scoped event (message:send, typing, receipt:read) checks the room rule REST
 * uses and membership of a client room; a socket's own id room is never a client room, on this
 * instance or another; auth:refresh applies the whole rule again and leaves what it no longer
 * allows, with room:presence edges.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect, ack, next, collect, collectAll, type ClientSocket } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

const redis = await startRedis()
t.teardown(redis.close)

const ROOM_EVENTS = (roomId: string): Array<[string, object]> => [
  ['room:join', { roomId }],
  ['message:send', { roomId, text: 'into a socket id room' }],
  ['typing', { roomId, isTyping: true }],
  ['receipt:read', { roomId, messageId: '1-0' }],
  ['history:fetch', { roomId }],
  ['room:leave', { roomId }]
]

/** Sends a marker to `room` from `from` and resolves once `to` got it: what `to` received before it is in `seen`. */
async function barrier (from: ClientSocket, to: ClientSocket, room: string, marker: string): Promise<void> {
  const got = new Promise<void>((resolve) => {
    const on = (m: { text: string }): void => { if (m.text === marker) { to.off('message:new', on); resolve() } }
    to.on('message:new', on)
  })
  const r = await ack(from, 'message:send', { roomId: room, text: marker })
  if (r.ok !== true) throw new Error(`marker refused: ${JSON.stringify(r)}`)
  await got
}

for (const [mode, access] of [['memory', 'claims'], ['redis', 'claims'], ['memory', 'open'], ['redis', 'open']] as const) {
  // claims mode with rooms: [lobby] (the case), and open mode, where joining is allowed
  const claims = access === 'claims' ? { rooms: ['lobby'] } : {}
  t.test(`socket id rooms are never client rooms (${mode}, ROOM_ACCESS=${access})`, async (t) => {
    const env: Record<string, string> = { ROOM_ACCESS: access, RATE_LIMIT_CONNECTIONS_PER_10S: '0' }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('authz') })
    const a = await startApp(t, env)
    // in redis mode the victim is on another instance, reached only through the adapter
    const b = mode === 'redis' ? await startApp(t, env) : a
    const attacker = await connect(a.url, token({ sub: 'mallory', ...claims }))
    const victim = await connect(b.url, token({ sub: 'victim', ...claims }))
    const friend = await connect(a.url, token({ sub: 'friend', ...claims }))
    for (const s of [attacker, victim, friend]) t.equal((await ack(s, 'room:join', { roomId: 'lobby' })).ok, true)
    const victimGot = collectAll(victim)

    for (const target of [attacker.id!, victim.id!]) {
      for (const [event, payload] of ROOM_EVENTS(target)) {
        const r = await ack(attacker, event, payload)
        t.not(r.ok, true, `${event} to ${target === attacker.id ? 'its own' : 'another socket\'s'} id room is refused (${JSON.stringify(r.error)})`)
      }
    }
    // internal rooms the attacker's socket IS in (its user: room, the presence room of a user it
    // follows) are not client rooms either: membership of them opens nothing
    t.equal((await ack(attacker, 'presence:subscribe', { userIds: ['victim'] })).ok, true)
    for (const target of ['user:mallory', '~presence:victim', 'user:victim']) {
      for (const [event, payload] of ROOM_EVENTS(target)) {
        const r = await ack(attacker, event, payload)
        t.ok(r.error?.code === 'forbidden' || r.error?.code === 'invalid_payload', `${event} to internal room ${target} is refused (${JSON.stringify(r.error)})`)
      }
    }
    const ops = await http(`${a.url}/v1/rooms/${encodeURIComponent(victim.id!)}/messages`, { token: token({ sub: 'svc', role: 'service' }) })
    t.equal(ops.status, 400, 'nor can REST read a socket id room')

    await barrier(friend, victim, 'lobby', 'marker')
    t.same(victimGot.map(e => e.event), ['message:new'], 'the victim got the marker and nothing else (no message:new, typing or room:presence through its id room)')
  })
}

t.test('auth:refresh applies the whole room rule again (claims mode)', async (t) => {
  const { url } = await startApp(t, { ROOM_ACCESS: 'claims', RATE_LIMIT_CONNECTIONS_PER_10S: '0' })
  const exp = Math.floor(Date.now() / 1000) + 3600
  const s = await connect(url, token({ sub: 'pat', role: 'admin', exp }))
  const watcher = await connect(url, token({ sub: 'ops-bot', role: 'service' }))
  t.equal((await ack(watcher, 'room:join', { roomId: 'ops' })).ok, true)
  t.equal((await ack(s, 'room:join', { roomId: 'ops' })).ok, true)
  const [m] = [(await ack(s, 'message:send', { roomId: 'ops', text: 'as admin' })).message]
  t.ok(m, 'sent while admin')

  const left = next(watcher, 'room:presence')
  const r = await ack(s, 'auth:refresh', { token: token({ sub: 'pat', exp: exp + 60 }) })
  t.same(r, { ok: true, expiresAt: (exp + 60) * 1000 }, 'a plain user token for the same sub')
  t.same(await left, { roomId: 'ops', userId: 'pat', status: 'left' }, 'the room it may no longer use is left, with its room:presence edge')
  for (const [event, payload] of [
    ['message:send', { roomId: 'ops', text: 'still admin?' }],
    ['typing', { roomId: 'ops', isTyping: true }],
    ['receipt:read', { roomId: 'ops', messageId: m.id }],
    ['history:fetch', { roomId: 'ops' }],
    ['room:join', { roomId: 'ops' }]
  ] as Array<[string, object]>) {
    t.equal((await ack(s, event, payload)).error?.code, 'forbidden', `${event} to ops after the refresh`)
  }
  const history = await http(`${url}/v1/rooms/ops/messages`, { token: token({ sub: 'ops-bot', role: 'service' }) })
  t.same(history.body.messages.map((x: { text: string }) => x.text), ['as admin'], 'nothing was written after the refresh')
  // and the socket is out of the room for real: a message there now reaches the watcher, not it
  // (a notification to its own user room, sent after the watcher got the message, is the barrier)
  const heard = collect<{ text: string }>(s, 'message:new')
  const echo = next(watcher, 'message:new')
  t.equal((await ack(watcher, 'message:send', { roomId: 'ops', text: 'after the refresh' })).ok, true)
  await echo
  const notified = next(s, 'notification')
  t.equal((await http(`${url}/v1/users/pat/notifications`, { token: token({ sub: 'ops-bot', role: 'service' }), body: { type: 'barrier', data: {} } })).status, 202)
  await notified
  t.same(heard, [], 'no message:new from the room it left')
})

t.test('auth:refresh to a narrower rooms claim leaves the rest, keeps what is allowed', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_CONNECTIONS_PER_10S: '0' })
  const s = await connect(url, token({ sub: 'kim' }))
  for (const roomId of ['team-1:a', 'team-2:b']) t.equal((await ack(s, 'room:join', { roomId })).ok, true)
  t.equal((await ack(s, 'auth:refresh', { token: token({ sub: 'kim', rooms: ['team-1:*'] }) })).ok, true)
  t.equal((await ack(s, 'message:send', { roomId: 'team-1:a', text: 'ok' })).ok, true, 'an allowed room stays joined')
  t.equal((await ack(s, 'message:send', { roomId: 'team-2:b', text: 'no' })).error?.code, 'forbidden')
})
