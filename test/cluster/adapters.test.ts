/**
 * Scale-out: two real server processes on one Redis deliver each other's messages (through the
 * store's publication) and adapter broadcasts (typing), with every adapter.
 */
import t from 'tap'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { connect, ack, next, untilMarker } from '../helpers/socket.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'

const redis = await startRedis()
t.teardown(redis.close)

for (const adapter of ['redis', 'redis-sharded', 'redis-streams'] as const) {
  t.test(`two instances with ADAPTER=${adapter}`, async (t) => {
    const env = { REDIS_URL: redis.url, ADAPTER: adapter, REDIS_KEY_PREFIX: uniquePrefix(`adapters-${adapter}`), LOG_LEVEL: 'warn' }
    const [a, b] = await Promise.all([spawnServer(t, env), spawnServer(t, env)])
    const alice = await connect(a.url, token({ sub: 'alice' }))
    const bob = await connect(b.url, token({ sub: 'bob' }))
    const carol = await connect(b.url, token({ sub: 'carol' }))
    await ack(alice, 'room:join', { roomId: 'lobby' })
    await ack(bob, 'room:join', { roomId: 'lobby' })
    await ack(carol, 'room:join', { roomId: 'other' })

    const atBob = next(bob, 'message:new')
    const atAlice = next(alice, 'message:new')
    const sent = await ack(alice, 'message:send', { roomId: 'lobby', text: `hello from A via ${adapter}` })
    t.equal(sent.ok, true)
    t.same(await atBob, sent.message, 'B\'s socket gets A\'s message')
    t.same(await atAlice, sent.message, 'the sender gets it too')

    const back = next(alice, 'message:new')
    const reply = await ack(bob, 'message:send', { roomId: 'lobby', text: 'hello from B' })
    t.same(await back, reply.message, 'A\'s socket gets B\'s message')

    const typing = next(alice, 'typing')
    await ack(bob, 'typing', { roomId: 'lobby', isTyping: true })
    t.same(await typing, { roomId: 'lobby', userId: 'bob', isTyping: true }, 'adapter broadcasts cross instances')

    const svc = next(bob, 'message:new')
    const posted = await http(`${a.url}/v1/rooms/lobby/messages`, { token: token({ sub: 'svc', role: 'service' }), body: { text: 'from a service' } })
    t.equal(posted.status, 201)
    t.same(await svc, posted.body.message, 'a REST publish on A reaches B')

    const hist = await http(`${b.url}/v1/rooms/lobby/messages`, { token: token({ sub: 'bob' }) })
    t.same(hist.body.messages.map((m: { id: string }) => m.id), [sent.message.id, reply.message.id, posted.body.message.id], 'both instances share history')

    // the barrier: a marker published on A to carol's room travels the path a leak would take
    const carolGot = untilMarker(carol, 'marker')
    t.equal((await http(`${a.url}/v1/rooms/other/messages`, { token: token({ sub: 'svc', role: 'service' }), body: { text: 'marker' } })).status, 201)
    t.same(await carolGot, [], 'no leak to another room')

    alice.close(); bob.close(); carol.close()
    t.equal(await a.stop('SIGTERM'), 0)
    t.equal(await b.stop('SIGTERM'), 0)
    t.notMatch(a.output() + b.output(), /Connection is closed|unhandled|"level":50/, 'clean shutdown logs')
  })
}
