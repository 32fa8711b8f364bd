/**
 * `room:join { since }` edge cases (SPEC §5) on the in-process and the Redis store: the 200 cap
 * and paging on from it, positions the room cannot vouch for, bad cursors, and rejoining a room
 * the socket is already in.
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { ack, connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { LIMITS_OFF, ids } from '../delivery/lib.js'
import type { Message } from '../../src/schemas/common.js'

const redis = await startRedis()
t.teardown(redis.close)

for (const mode of ['memory', 'redis'] as const) {
  t.test(`catch-up (${mode})`, async (t) => {
    const env: Record<string, string> = { ...LIMITS_OFF, MAX_ROOMS_PER_SOCKET: '1' }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('catchup') })
    const { url } = await startApp(t, env)
    const bob = await connect(url, token({ sub: 'bob' }))
    await ack(bob, 'room:join', { roomId: 'big' })
    const sent: Message[] = []
    for (let i = 0; i < 230; i++) sent.push((await ack(bob, 'message:send', { roomId: 'big', text: `m${i}` })).message)

    const alice = await connect(url, token({ sub: 'alice' }))
    const r = await ack(alice, 'room:join', { roomId: 'big', since: sent[9].id })
    t.equal(r.missed.length, 200, 'at most 200')
    t.same(ids(r.missed), ids(sent.slice(10, 210)), 'the oldest 200 after since')
    t.same([r.hasMore, r.recovered], [true, true])
    const rest = await ack(alice, 'history:fetch', { roomId: 'big', after: r.missed[199].id, limit: 100 })
    t.same([ids(rest.messages), rest.hasMore], [ids(sent.slice(210)), false], 'history:fetch after the last one pages on')

    const again = await ack(alice, 'room:join', { roomId: 'big', since: sent[229].id })
    t.same(again, { ok: true, roomId: 'big', missed: [], hasMore: false, recovered: true }, 'rejoining a joined room with since: up to date (and no second slot used)')
    t.same(await ack(alice, 'room:join', { roomId: 'big' }), { ok: true, roomId: 'big' }, 'without since: no catch-up fields')

    const carol = await connect(url, token({ sub: 'carol' }))
    t.same(await ack(carol, 'room:join', { roomId: 'quiet', since: sent[0].id }), { ok: true, roomId: 'quiet', missed: [], hasMore: false, recovered: false }, 'a room without history cannot vouch for since')
    const badSince = await ack(carol, 'room:join', { roomId: 'big', since: 'yesterday' })
    t.match(badSince, { ok: false, error: { code: 'invalid_payload', details: [{ path: '/since' }] } })
    t.equal((await ack(carol, 'message:send', { roomId: 'big', text: 'x' })).error?.code, 'not_in_room', 'a refused join joined nothing')
    const narrow = await connect(url, token({ sub: 'dave', rooms: ['team:*'] }))
    t.equal((await ack(narrow, 'room:join', { roomId: 'big', since: sent[0].id })).error?.code, 'forbidden', 'since reveals nothing of a forbidden room')
    t.equal((await ack(narrow, 'room:join', { roomId: 'user:bob', since: sent[0].id })).error?.code, 'forbidden')
    for (const s of [alice, bob, carol, narrow]) s.close()
  })
}
