/**
 * Read receipts (SPEC §5 `receipt:read` / `receipt`, §6 GET /v1/rooms/:roomId/receipts) on the
 * in-process and the Redis store: forward only, only for messages in that room's history, only
 * from members, broadcast to the room.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { ack, connect, next, collect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { LIMITS_OFF } from '../delivery/lib.js'

const redis = await startRedis()
t.teardown(redis.close)

for (const mode of ['memory', 'redis'] as const) {
  t.test(`receipts (${mode})`, async (t) => {
    const env: Record<string, string> = { ...LIMITS_OFF, HISTORY_MAX_MESSAGES: '5' }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('receipts') })
    const { url } = await startApp(t, env)
    const alice = await connect(url, token({ sub: 'alice' }))
    const alice2 = await connect(url, token({ sub: 'alice' }))
    const bob = await connect(url, token({ sub: 'bob' }))
    const outsider = await connect(url, token({ sub: 'eve' }))
    for (const s of [alice, alice2, bob]) await ack(s, 'room:join', { roomId: 'room' })
    await ack(bob, 'room:join', { roomId: 'other' })
    const m = []
    for (let i = 0; i < 3; i++) m.push((await ack(bob, 'message:send', { roomId: 'room', text: `${i}` })).message)
    const elsewhere = (await ack(bob, 'message:send', { roomId: 'other', text: 'x' })).message
    const outsiderHeard = collect(outsider, 'receipt')
    const list = async (jwt = token({ sub: 'bob' }), room = 'room') => await http(`${url}/v1/rooms/${room}/receipts`, { token: jwt })

    t.same((await list()).body, { roomId: 'room', receipts: {} }, 'none yet')

    // forward: stored and broadcast to the room, the reader's other tabs included
    const atBob = next(bob, 'receipt')
    const atTab = next(alice2, 'receipt')
    t.same(await ack(alice, 'receipt:read', { roomId: 'room', messageId: m[1].id }), { ok: true })
    t.same(await atBob, { roomId: 'room', userId: 'alice', messageId: m[1].id })
    t.same(await atTab, { roomId: 'room', userId: 'alice', messageId: m[1].id }, 'the reader\'s other sockets hear it too')
    t.same((await list()).body, { roomId: 'room', receipts: { alice: m[1].id } })

    // backwards or repeated: ok, nothing changes, nothing is broadcast (the next receipt shows it)
    const bobHeard = collect(bob, 'receipt')
    t.same(await ack(alice, 'receipt:read', { roomId: 'room', messageId: m[0].id }), { ok: true }, 'an older one is acknowledged')
    t.same(await ack(alice, 'receipt:read', { roomId: 'room', messageId: m[1].id }), { ok: true }, 'the same one again')
    t.same((await list()).body.receipts, { alice: m[1].id }, 'never moves back')
    const forward = next(bob, 'receipt')
    await ack(alice, 'receipt:read', { roomId: 'room', messageId: m[2].id })
    await forward
    t.same(bobHeard, [{ roomId: 'room', userId: 'alice', messageId: m[2].id }], 'only moves forward were broadcast')

    // refused
    const notFound = await ack(bob, 'receipt:read', { roomId: 'room', messageId: elsewhere.id })
    t.equal(notFound.error?.code, 'not_found', 'a message of another room')
    t.equal((await ack(bob, 'receipt:read', { roomId: 'room', messageId: '1-0' })).error?.code, 'not_found', 'a message that never was')
    t.equal((await ack(outsider, 'receipt:read', { roomId: 'room', messageId: m[2].id })).error?.code, 'not_in_room', 'a socket that has not joined')
    t.equal((await ack(alice, 'receipt:read', { roomId: 'user:alice', messageId: m[2].id })).error?.code, 'forbidden', 'its own user room is not a chat room (reserved)')
    for (const bad of [{ roomId: 'room' }, { roomId: 'room', messageId: 'nope' }, { roomId: 'room', messageId: m[2].id, x: 1 }, 'str', null]) {
      t.equal((await ack(alice, 'receipt:read', bad)).error?.code, 'invalid_payload', `invalid: ${JSON.stringify(bad)}`)
    }
    t.same((await list()).body.receipts, { alice: m[2].id }, 'refusals stored nothing')

    // a receipt for a message trimmed out of history is refused; ids are stored canonically
    for (let i = 0; i < 5; i++) await ack(bob, 'message:send', { roomId: 'room', text: `more ${i}` })
    t.equal((await ack(bob, 'receipt:read', { roomId: 'room', messageId: m[0].id })).error?.code, 'not_found', 'trimmed out of history')
    const latest = (await ack(bob, 'message:send', { roomId: 'room', text: 'latest' })).message
    const padded = latest.id.replace(/^(\d+)-(\d+)$/, '$1-00$2')
    t.same(await ack(bob, 'receipt:read', { roomId: 'room', messageId: padded }), { ok: true })
    t.equal((await list()).body.receipts.bob, latest.id, 'stored as history spells it')

    // REST access follows the room rule
    t.equal((await list(token({ sub: 'eve' }))).status, 200, 'anyone who may use the room may read them (open access)')
    t.equal((await list(token({ sub: 'eve', rooms: ['team:*'] }))).body.code, 'forbidden')
    t.equal((await list(undefined, 'user:alice')).body.code, 'forbidden', 'reserved room')
    t.equal((await list(undefined, 'bad room')).body.code, 'invalid_payload')
    t.equal((await http(`${url}/v1/rooms/room/receipts`)).status, 401)
    t.same((await list(undefined, 'other')).body, { roomId: 'other', receipts: {} }, 'per room')
    // the barrier: a notification to eve, sent last through the adapter like the receipts
    const barrier = next(outsider, 'notification')
    t.equal((await http(`${url}/v1/users/eve/notifications`, { token: token({ sub: 'svc', role: 'service' }), body: { type: 'barrier' } })).status, 202)
    await barrier
    t.same(outsiderHeard, [], 'non-members heard nothing')
    for (const s of [alice, alice2, bob, outsider]) s.close()
  })
}
