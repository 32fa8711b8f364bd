/**
 * Service publishing (SPEC §6 POST /v1/rooms/:roomId/messages) and idempotent sends (SPEC §8)
 * on both transports, on the in-process and the Redis store.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { ack, connect, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { LIMITS_OFF, historyOf, untilMarker } from '../delivery/lib.js'

const redis = await startRedis()
t.teardown(redis.close)

for (const mode of ['memory', 'redis'] as const) {
  t.test(`publishing and idempotency (${mode})`, async (t) => {
    const env: Record<string, string> = { ...LIMITS_OFF, MESSAGE_MAX_LENGTH: '100' }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('publish') })
    const { url } = await startApp(t, env)
    const svc = token({ sub: 'svc', role: 'service', name: 'Service' })
    const post = async (body: unknown, opts: { jwt?: string, room?: string, headers?: Record<string, string> } = {}) =>
      await http(`${url}/v1/rooms/${opts.room ?? 'lobby'}/messages`, { token: opts.jwt ?? svc, body, headers: opts.headers })

    const bob = await connect(url, token({ sub: 'bob' }))
    await ack(bob, 'room:join', { roomId: 'lobby' })
    const marker = async (): Promise<void> => { t.equal((await post({ text: 'marker' })).status, 201) }

    // a service publishes; members get it as message:new
    let heard = untilMarker(bob, 'marker')
    const created = await post({ text: 'deploy finished', meta: { build: 42 } })
    t.equal(created.status, 201)
    t.match(created.body.message, { roomId: 'lobby', userId: 'svc', name: 'Service', text: 'deploy finished', meta: { build: 42 } })
    await marker()
    t.same(await heard, [created.body.message], 'broadcast as message:new')

    // on behalf of a user
    heard = untilMarker(bob, 'marker')
    const forAlice = await post({ text: 'hi from alice', userId: 'alice', name: 'Alice' })
    t.match(forAlice.body.message, { userId: 'alice', name: 'Alice' })
    t.notOk('name' in (await post({ text: 'x', userId: 'carol' })).body.message, 'the service\'s own name is not lent to another user')
    await marker()
    t.same((await heard).map(m => m.userId), ['alice', 'carol'])

    // repeats: clientMsgId in the body, or the Idempotency-Key header
    heard = untilMarker(bob, 'marker')
    const first = await post({ text: 'once', clientMsgId: 'job-1' })
    const again = await post({ text: 'once, retried with other text', clientMsgId: 'job-1' })
    t.equal(first.status, 201)
    t.equal(again.status, 200, 'a repeat answers 200')
    t.same(again.body.message, first.body.message, 'with the first message, unchanged')
    const k1 = await post({ text: 'keyed' }, { headers: { 'idempotency-key': 'key-1' } })
    const k2 = await post({ text: 'keyed' }, { headers: { 'idempotency-key': 'key-1' } })
    const k3 = await post({ text: 'keyed', clientMsgId: 'key-1' })
    t.same([k1.status, k2.status, k3.status], [201, 200, 200], 'the header stands for clientMsgId')
    t.same(k2.body.message, k1.body.message)
    t.equal(k1.body.message.clientMsgId, 'key-1')
    const same = await post({ text: 'keyed', clientMsgId: 'key-1' }, { headers: { 'idempotency-key': 'key-1' } })
    t.equal(same.status, 200, 'both, equal: fine')
    const conflict = await post({ text: 'x', clientMsgId: 'a' }, { headers: { 'idempotency-key': 'b' } })
    t.same([conflict.status, conflict.body.code], [400, 'invalid_payload'], 'both, different: refused')
    t.equal((await post({ text: 'x' }, { headers: { 'idempotency-key': '' } })).status, 400, 'an empty key')
    await marker()
    t.same((await heard).map(m => m.text), ['once', 'keyed'], 'repeats broadcast nothing')

    // the idempotency key of a send on behalf of a user is the poster's, not the user's
    const alice = await connect(url, token({ sub: 'alice' }))
    await ack(alice, 'room:join', { roomId: 'lobby' })
    const own = await ack(alice, 'message:send', { roomId: 'lobby', text: 'mine', clientMsgId: 'c-1' })
    const byService = await post({ text: 'for alice', userId: 'alice', clientMsgId: 'c-1' })
    t.equal(byService.status, 201, 'a service\'s key never returns the user\'s own message')
    t.not(byService.body.message.id, own.message.id)
    const ownAgain = await ack(alice, 'message:send', { roomId: 'lobby', text: 'mine again', clientMsgId: 'c-1' })
    t.same(ownAgain.message, own.message, 'the user\'s own repeat still finds the user\'s own message')

    // socket repeats: same answer, nothing broadcast
    heard = untilMarker(bob, 'marker')
    const s1 = await ack(alice, 'message:send', { roomId: 'lobby', text: 'tap', clientMsgId: 'tap-1' })
    const s2 = await ack(alice, 'message:send', { roomId: 'lobby', text: 'tap tap', clientMsgId: 'tap-1' })
    t.same(s2, s1, 'a socket repeat acks the first message')
    await marker()
    t.same((await heard).map(m => m.text), ['tap'])

    // refusals
    const user = await post({ text: 'x' }, { jwt: token({ sub: 'alice' }) })
    t.same([user.status, user.body.code], [403, 'forbidden'], 'users may not publish over REST')
    t.equal((await post({ text: 'x' }, { jwt: token({ sub: 'root', role: 'admin' }) })).status, 201, 'admins may')
    t.equal((await post({ text: 'x' }, { room: 'user:bob' })).body.code, 'forbidden', 'reserved rooms')
    t.equal((await post({ text: 'x' }, { jwt: token({ sub: 'svc', role: 'service', rooms: ['ops:*'] }) })).body.code, 'forbidden', 'a narrowed service token stays narrow')
    t.equal((await post({ text: 'x'.repeat(101) })).body.code, 'payload_too_large')
    // MESSAGE_MAX_LENGTH counts grapheme clusters, as people count characters
    const family = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}'
    t.equal((await post({ text: family.repeat(100) })).status, 201, '100 family emojis are 100 characters')
    t.equal((await post({ text: family.repeat(101) })).body.code, 'payload_too_large', '101 are over')
    t.equal((await post({ text: 'e\u0301'.repeat(100) })).status, 201, 'a letter with a combining accent is one character')
    t.equal((await post({ text: '' })).body.code, 'invalid_payload')
    t.equal((await post({ text: 'x', extra: 1 })).body.code, 'invalid_payload')
    t.equal((await post('not json', { headers: { 'content-type': 'application/json' } })).body.code, 'invalid_payload')
    t.equal((await http(`${url}/v1/rooms/lobby/messages`, { body: { text: 'x' } })).status, 401)

    const h = await historyOf(url, 'lobby')
    t.equal(h.filter(m => m.clientMsgId === 'job-1').length, 1, 'one message per key in history')
    t.equal(h.filter(m => m.clientMsgId === 'key-1').length, 1)
    bob.close()
    alice.close()
  })
}

t.test('a publish reaches a member that joined on its own (memory)', async (t) => {
  const { url } = await startApp(t, LIMITS_OFF)
  const s = await connect(url, token({ sub: 'x' }))
  await ack(s, 'room:join', { roomId: 'ops' })
  const got = next(s, 'message:new')
  const r = await http(`${url}/v1/rooms/ops/messages`, { token: token({ sub: 'svc', role: 'service' }), body: { text: 'ping' } })
  t.same(await got, r.body.message)
})
