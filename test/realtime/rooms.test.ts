/**
 * Room rules (SPEC §3), the message ack shape and broadcast (SPEC §5), not_in_room, typing,
 * leave, and the rooms limit (SPEC §7) — in-process mode; cross-instance lives in test/cluster.
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { connect, ack, next, collect, untilMarker } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'

t.test('room access rules', async (t) => {
  const open = await startApp(t)
  const claims = await startApp(t, { ROOM_ACCESS: 'claims' })
  const join = async (url: string, claimsOf: Parameters<typeof token>[0], roomId: string): Promise<string> => {
    const s = await connect(url, token(claimsOf))
    const r = await ack(s, 'room:join', { roomId })
    s.close()
    return r.ok === true ? 'ok' : r.error.code
  }
  const cases: Array<[string, 'open' | 'claims', Parameters<typeof token>[0], string, string]> = [
    ['user joins any room when open', 'open', { sub: 'u' }, 'lobby', 'ok'],
    ['user cannot join without rooms claim when claims', 'claims', { sub: 'u' }, 'lobby', 'forbidden'],
    ['exact claim', 'claims', { sub: 'u', rooms: ['lobby'] }, 'lobby', 'ok'],
    ['exact claim is not a prefix', 'claims', { sub: 'u', rooms: ['lobby'] }, 'lobby2', 'forbidden'],
    ['prefix claim', 'claims', { sub: 'u', rooms: ['team-42:*'] }, 'team-42:general', 'ok'],
    ['prefix claim does not match another team', 'claims', { sub: 'u', rooms: ['team-42:*'] }, 'team-43:general', 'forbidden'],
    ['rooms claim limits even when open', 'open', { sub: 'u', rooms: ['lobby'] }, 'secret', 'forbidden'],
    ['empty rooms claim allows nothing', 'open', { sub: 'u', rooms: [] }, 'lobby', 'forbidden'],
    ['service may use every room under claims', 'claims', { sub: 's', role: 'service' }, 'anything', 'ok'],
    ['admin may use every room under claims', 'claims', { sub: 'a', role: 'admin' }, 'anything', 'ok'],
    ['user: rooms are reserved', 'open', { sub: 'u' }, 'user:u', 'forbidden'],
    ['user: rooms are reserved for admins too', 'open', { sub: 'a', role: 'admin' }, 'user:bob', 'forbidden'],
    ['system: rooms are reserved', 'open', { sub: 's', role: 'service' }, 'system:jobs', 'forbidden'],
    ['a wildcard claim does not open reserved rooms', 'open', { sub: 'u', rooms: ['*'] }, 'user:x', 'forbidden'],
    ['bad room id', 'open', { sub: 'u' }, 'has space', 'invalid_payload'],
    ['too long room id', 'open', { sub: 'u' }, 'x'.repeat(129), 'invalid_payload'],
    ['empty room id', 'open', { sub: 'u' }, '', 'invalid_payload']
  ]
  for (const [name, mode, c, room, want] of cases) {
    t.equal(await join(mode === 'open' ? open.url : claims.url, c, room), want, name)
  }
})

t.test('send: ack shape, broadcast to members and the sender\'s other sockets, nobody else', async (t) => {
  const { url, config } = await startApp(t)
  const alice1 = await connect(url, token({ sub: 'alice', name: 'Alice' }))
  const alice2 = await connect(url, token({ sub: 'alice', name: 'Alice' }))
  const bob = await connect(url, token({ sub: 'bob' }))
  const carol = await connect(url, token({ sub: 'carol' }))
  for (const s of [alice1, alice2, bob]) t.same(await ack(s, 'room:join', { roomId: 'lobby' }), { ok: true, roomId: 'lobby' })
  t.same(await ack(carol, 'room:join', { roomId: 'elsewhere' }), { ok: true, roomId: 'elsewhere' })
  const received = [next(alice1, 'message:new'), next(alice2, 'message:new'), next(bob, 'message:new')]
  const r = await ack(alice1, 'message:send', { roomId: 'lobby', text: 'hello', clientMsgId: 'c-1', meta: { k: [1, 2] } })
  t.equal(r.ok, true)
  t.match(r.message, { id: /^\d+-\d+$/, roomId: 'lobby', userId: 'alice', name: 'Alice', text: 'hello', clientMsgId: 'c-1', meta: { k: [1, 2] }, at: Number })
  t.ok(Math.abs(r.message.at - Date.now()) < 5000, 'at is epoch ms')
  t.same(Object.keys(r.message).sort(), ['at', 'clientMsgId', 'id', 'meta', 'name', 'roomId', 'text', 'userId'])
  for (const got of await Promise.all(received)) t.same(got, r.message, 'each member and the sender\'s sockets get the stored message')
  // the barrier: carol's own marker in her room reaches her after anything the send broadcast
  const carolGot = untilMarker(carol, 'marker')
  await ack(carol, 'message:send', { roomId: 'elsewhere', text: 'marker' })
  t.same(await carolGot, [], 'a non-member gets nothing')

  // limits of the message itself
  const long = await ack(alice1, 'message:send', { roomId: 'lobby', text: 'x'.repeat(config.MESSAGE_MAX_LENGTH + 1) })
  t.equal(long.error.code, 'payload_too_large')
  const exact = await ack(alice1, 'message:send', { roomId: 'lobby', text: '€'.repeat(config.MESSAGE_MAX_LENGTH) })
  t.equal(exact.ok, true, 'MESSAGE_MAX_LENGTH counts characters')
  const bigMeta = await ack(alice1, 'message:send', { roomId: 'lobby', text: 'x', meta: { blob: 'x'.repeat(2048) } })
  t.equal(bigMeta.error.code, 'payload_too_large')
})

t.test('not_in_room, typing, leave', async (t) => {
  const { url } = await startApp(t)
  const a = await connect(url, token({ sub: 'alice' }))
  const b = await connect(url, token({ sub: 'bob' }))
  const notIn = await ack(a, 'message:send', { roomId: 'lobby', text: 'x' })
  t.same(notIn.error.code, 'not_in_room')
  t.equal((await ack(a, 'message:send', { roomId: 'user:alice', text: 'x' })).error.code, 'forbidden', 'not even to its own user room: reserved (test/realtime/room-authz.test.ts)')
  t.equal((await ack(a, 'typing', { roomId: 'lobby', isTyping: true })).error.code, 'not_in_room')
  await ack(a, 'room:join', { roomId: 'lobby' })
  await ack(b, 'room:join', { roomId: 'lobby' })
  const aTyping = collect(a, 'typing')
  const typing = next(b, 'typing')
  t.same(await ack(a, 'typing', { roomId: 'lobby', isTyping: true }), { ok: true })
  t.same(await typing, { roomId: 'lobby', userId: 'alice', isTyping: true })
  // the barrier: the typist's own marker reaches it after any echo of its typing would have
  const heardOwn = untilMarker(a, 'marker')
  await ack(a, 'message:send', { roomId: 'lobby', text: 'marker' })
  await heardOwn
  t.same(aTyping, [], 'the typist does not hear itself')
  t.same(await ack(a, 'room:join', { roomId: 'lobby' }), { ok: true, roomId: 'lobby' }, 'joining twice is fine')
  t.same(await ack(a, 'room:leave', { roomId: 'lobby' }), { ok: true })
  t.same(await ack(a, 'room:leave', { roomId: 'lobby' }), { ok: true }, 'leaving twice is fine')
  t.equal((await ack(a, 'room:leave', { roomId: 'user:alice' })).error.code, 'forbidden', 'cannot leave its own user room')
  // the barrier: a room both still share; bob's marker there follows his send to lobby
  await ack(a, 'room:join', { roomId: 'side' })
  await ack(b, 'room:join', { roomId: 'side' })
  const after = untilMarker(a, 'marker')
  await ack(b, 'message:send', { roomId: 'lobby', text: 'gone?' })
  await ack(b, 'message:send', { roomId: 'side', text: 'marker' })
  t.same(await after, [], 'a socket that left gets nothing')
  t.equal((await ack(a, 'message:send', { roomId: 'lobby', text: 'x' })).error.code, 'not_in_room')
})

t.test('rooms limit per socket does not count the user room', async (t) => {
  const { url } = await startApp(t, { MAX_ROOMS_PER_SOCKET: '3' })
  const s = await connect(url, token({ sub: 'alice' }))
  for (const r of ['r1', 'r2', 'r3']) t.equal((await ack(s, 'room:join', { roomId: r })).ok, true)
  const over = await ack(s, 'room:join', { roomId: 'r4' })
  t.equal(over.error.code, 'forbidden')
  t.equal((await ack(s, 'room:join', { roomId: 'r3' })).ok, true, 'rejoining a joined room is not a new room')
  await ack(s, 'room:leave', { roomId: 'r1' })
  t.equal((await ack(s, 'room:join', { roomId: 'r4' })).ok, true, 'room freed by leave')
})
