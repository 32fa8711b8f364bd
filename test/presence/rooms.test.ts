/**
 * Room presence across instances (SPEC §5 `room:presence`, §6 GET /v1/rooms/:roomId/presence):
 * `joined` on a user's first socket in a room and `left` on the last, wherever those sockets
 * are; REST counts every instance's sockets from Redis; and a crashed instance's members leave
 * within PRESENCE_TTL_MS + 5 s while users with a socket elsewhere stay.
 */
import t from 'tap'
import { spawnServer } from '../helpers/proc.js'
import { http } from '../helpers/app.js'
import { connect, ack, collect, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

const TTL_MS = 2000

t.test('room presence over two instances, then one of them crashes', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix('room-presence'),
    PRESENCE_TTL_MS: String(TTL_MS),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_HTTP_MAX: '0',
    RATE_LIMIT_EVENTS_PER_MINUTE: '0',
    RATE_LIMIT_CONNECTIONS_PER_10S: '0'
  }
  // one after the other: each start compiles the app, and the machine has two cores
  const a = await spawnServer(t, env)
  const b = await spawnServer(t, env)
  const reader = token({ sub: 'reader' })
  const members = async (s: { url: string }): Promise<string[]> =>
    (await http(`${s.url}/v1/rooms/hall/presence`, { token: reader })).body.users.map((u: any) => `${u.userId}:${u.connections}`)

  const mia = await connect(b.url, token({ sub: 'mia' }))
  // a member hears its own joined too; the edge is relayed, so it may come after the ack
  const own = next(mia, 'room:presence')
  t.same(await ack(mia, 'room:join', { roomId: 'hall' }), { ok: true, roomId: 'hall' })
  t.same(await own, { roomId: 'hall', userId: 'mia', status: 'joined' })
  const heard = collect(mia, 'room:presence')
  const outsider = await connect(b.url, token({ sub: 'out' }))
  const outsiderHeard = collect(outsider, 'room:presence')

  let edge = next(mia, 'room:presence')
  const annA = await connect(a.url, token({ sub: 'ann' }))
  await ack(annA, 'room:join', { roomId: 'hall' })
  t.same(await edge, { roomId: 'hall', userId: 'ann', status: 'joined' }, 'ann\'s first socket in the room, on the other instance')
  const annB = await connect(b.url, token({ sub: 'ann' }))
  await ack(annB, 'room:join', { roomId: 'hall' })
  edge = next(mia, 'room:presence')
  const bobA = await connect(a.url, token({ sub: 'bob' }), { reconnection: false })
  await ack(bobA, 'room:join', { roomId: 'hall' })
  t.same(await edge, { roomId: 'hall', userId: 'bob', status: 'joined' })
  t.same(heard.map(e => `${e.userId}:${e.status}`), ['ann:joined', 'bob:joined'], 'ann\'s second socket is no event')

  t.same(await members(a), ['ann:2', 'bob:1', 'mia:1'], 'REST on either instance counts both instances\' sockets')
  t.same(await members(b), ['ann:2', 'bob:1', 'mia:1'])

  // leaving one of two sockets is no event; a second room is separate
  await ack(annA, 'room:join', { roomId: 'side' })
  await ack(annA, 'room:leave', { roomId: 'hall' })
  t.same(await members(b), ['ann:1', 'bob:1', 'mia:1'])
  await ack(annA, 'room:join', { roomId: 'hall' })

  // crash: bob's only socket and one of ann's are on `a`
  const left = next(mia, 'room:presence', TTL_MS + 5000 + 1000)
  const killedAt = Date.now()
  a.proc.kill('SIGKILL')
  await a.exited
  t.same(await left, { roomId: 'hall', userId: 'bob', status: 'left' })
  const tookMs = Date.now() - killedAt
  t.comment(`SIGKILL → room:presence left: ${tookMs} ms (PRESENCE_TTL_MS=${TTL_MS})`)
  t.ok(tookMs <= TTL_MS + 5000, 'within PRESENCE_TTL_MS + 5 s')
  t.same(await members(b), ['ann:1', 'mia:1'], 'ann stays with her socket on the survivor')

  // an edge caused now arrives after anything the sweep emitted: ann never left
  edge = next(mia, 'room:presence')
  const sentinel = await connect(b.url, token({ sub: 'sentinel' }))
  await ack(sentinel, 'room:join', { roomId: 'hall' })
  t.same(await edge, { roomId: 'hall', userId: 'sentinel', status: 'joined' })
  t.same(heard.map(e => `${e.userId}:${e.status}`), ['ann:joined', 'bob:joined', 'bob:left', 'sentinel:joined'])

  edge = next(mia, 'room:presence')
  annB.close()
  t.same(await edge, { roomId: 'hall', userId: 'ann', status: 'left' }, 'ann\'s last socket leaves: left')
  t.same(await members(b), ['mia:1', 'sentinel:1'])
  t.same(outsiderHeard, [], 'a socket outside the room hears none of it')
})
