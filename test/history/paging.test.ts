/**
 * History reads (SPEC §6 cursor rules) over REST and over `history:fetch`, on the in-process and
 * the Redis store: both transports call one service function and must answer alike, edge cases
 * and refusals included.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { ack, connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { LIMITS_OFF, ids } from '../delivery/lib.js'
import type { Message } from '../../src/schemas/common.js'

const redis = await startRedis()
t.teardown(redis.close)

for (const mode of ['memory', 'redis'] as const) {
  t.test(`paging (${mode})`, async (t) => {
    const env: Record<string, string> = { ...LIMITS_OFF }
    if (mode === 'redis') Object.assign(env, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('paging') })
    const { url } = await startApp(t, env)
    const jwt = token({ sub: 'alice' })
    const sock = await connect(url, jwt)

    /** the same query over both transports; they must agree */
    async function read (roomId: string, q: Record<string, unknown>): Promise<{ status: number, body: any }> {
      const qs = new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)])).toString()
      const rest = await http(`${url}/v1/rooms/${roomId}/messages${qs === '' ? '' : `?${qs}`}`, { token: jwt })
      const viaSocket = await ack(sock, 'history:fetch', { roomId, ...q })
      if (rest.status === 200) {
        t.same(viaSocket, { ok: true, ...rest.body }, `socket agrees with REST for ${JSON.stringify(q)}`)
      } else {
        t.equal(viaSocket.ok, false)
        t.equal(viaSocket.error.code, rest.body.code, `socket refuses like REST for ${JSON.stringify(q)}`)
      }
      return rest
    }

    t.same((await read('empty', {})).body, { messages: [], hasMore: false }, 'empty room')
    t.same((await read('empty', { before: '5-0', after: '1-0', limit: 3 })).body, { messages: [], hasMore: false }, 'empty room with cursors')

    t.same(await ack(sock, 'room:join', { roomId: 'r' }), { ok: true, roomId: 'r' })
    const sent: Message[] = []
    for (let i = 0; i < 55; i++) sent.push((await ack(sock, 'message:send', { roomId: 'r', text: `m${i}` })).message)
    const all = ids(sent)

    const dflt = (await read('r', {})).body
    t.same(ids(dflt.messages), all.slice(5), 'default limit 50, the newest, oldest first')
    t.equal(dflt.hasMore, true)
    t.same(dflt.messages[49], sent[54], 'the messages as they were acknowledged')
    const full = (await read('r', { limit: 100 })).body
    t.same([ids(full.messages), full.hasMore], [all, false], 'limit above the count: all, hasMore false')

    const exact = (await read('r', { after: all[44], limit: 10 })).body
    t.same([ids(exact.messages), exact.hasMore], [all.slice(45), false], 'exactly limit left after: hasMore false')
    const exactBefore = (await read('r', { before: all[10], limit: 10 })).body
    t.same([ids(exactBefore.messages), exactBefore.hasMore], [all.slice(0, 10), false], 'exactly limit left before: hasMore false')

    const b = (await read('r', { before: all[20], limit: 5 })).body
    t.same([ids(b.messages), b.hasMore], [all.slice(15, 20), true], 'before alone: the newest before it')
    const a = (await read('r', { after: all[20], limit: 5 })).body
    t.same([ids(a.messages), a.hasMore], [all.slice(21, 26), true], 'after alone: the first after it')
    const both = (await read('r', { after: all[20], before: all[23], limit: 5 })).body
    t.same([ids(both.messages), both.hasMore], [all.slice(21, 23), false], 'after and before: the window between')
    const narrow = (await read('r', { after: all[20], before: all[30], limit: 3 })).body
    t.same([ids(narrow.messages), narrow.hasMore], [all.slice(21, 24), true], 'a window larger than limit: hasMore')
    t.same((await read('r', { after: all[30], before: all[20] })).body, { messages: [], hasMore: false }, 'after beyond before')

    t.same((await read('r', { after: '1-0', limit: 2 })).body.messages, sent.slice(0, 2), 'a cursor older than everything (not an id in history)')
    t.same((await read('r', { before: '1-0' })).body, { messages: [], hasMore: false }, 'before an id older than everything')
    t.same((await read('r', { before: '0-0' })).body, { messages: [], hasMore: false }, 'before 0-0')
    t.same((await read('r', { after: '999999999999999-0' })).body, { messages: [], hasMore: false }, 'after a future id')
    t.same((await read('r', { before: '999999999999999-0', limit: 1 })).body.messages, [sent[54]], 'before a future id')
    t.same((await read('r', { after: all[54] })).body, { messages: [], hasMore: false }, 'after the newest')

    for (const bad of [
      { before: 'abc' }, { after: '12' }, { after: '1-2-3' }, { before: '' }, { after: '-1-0' },
      { before: '1234567890123456-0' }, { limit: 0 }, { limit: 101 }, { limit: -1 }, { limit: 1.5 }, { limit: 'ten' }
    ]) {
      const r = await read('r', bad)
      t.equal(r.status, 400, `${JSON.stringify(bad)} is refused`)
      t.equal(r.body.code, 'invalid_payload')
    }
    const unknown = await http(`${url}/v1/rooms/r/messages?since=${all[1]}`, { token: jwt })
    t.equal(unknown.body.code, 'invalid_payload', 'an unknown query parameter')
    const bareSocket = await ack(sock, 'history:fetch', { roomId: 'r', cursor: all[1] })
    t.match(bareSocket, { ok: false, error: { code: 'invalid_payload', details: [{ path: '/' }] } }, 'an unknown field, with details')
    t.equal((await ack(sock, 'history:fetch', { roomId: 'bad room' })).error.code, 'invalid_payload', 'a bad room id')
    t.equal((await http(`${url}/v1/rooms/bad%20room/messages`, { token: jwt })).status, 400)

    t.equal((await read('user:alice', {})).status, 403, 'reserved rooms are nobody\'s history, not even their user\'s')
    const narrowTok = token({ sub: 'alice', rooms: ['team:*'] })
    const narrowSock = await connect(url, narrowTok)
    t.equal((await http(`${url}/v1/rooms/r/messages`, { token: narrowTok })).body.code, 'forbidden', 'REST: the room rule of room:join')
    t.equal((await ack(narrowSock, 'history:fetch', { roomId: 'r' })).error.code, 'forbidden', 'socket: the same rule')
    t.equal((await ack(narrowSock, 'room:join', { roomId: 'r' })).error.code, 'forbidden', 'as room:join')
    t.equal((await http(`${url}/v1/rooms/r/messages`)).status, 401, 'no token')
    const svc = await http(`${url}/v1/rooms/r/messages?limit=1`, { token: token({ sub: 'svc', role: 'service' }) })
    t.same(svc.body.messages, [sent[54]], 'services read every room')
  })
}

t.test('paging (claims access): a user without a rooms claim reads nothing', async (t) => {
  const { url } = await startApp(t, { ...LIMITS_OFF, ROOM_ACCESS: 'claims' })
  t.equal((await http(`${url}/v1/rooms/r/messages`, { token: token({ sub: 'alice' }) })).status, 403)
  t.equal((await http(`${url}/v1/rooms/r/messages`, { token: token({ sub: 'alice', rooms: ['r'] }) })).status, 200)
})
