/**
 * A gap in the relay's Redis subscription (ADAPTER=redis: pub/sub is at most once) must not be
 * silent: when the subscription is back, the instance replays the rooms' missed messages from
 * history, in order, before what arrived since — the sockets never notice. Uses its own
 * redis-server: CLIENT KILL TYPE pubsub would disturb other test files on a shared one.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startApp, http } from '../helpers/app.js'
import { ack, collect, connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { until } from '../helpers/net.js'
import { LIMITS_OFF, historyOf, ids } from './lib.js'
import type { Message } from '../../src/schemas/common.js'

t.test('a dropped relay subscription is replayed from history, in order, without a reconnect', async (t) => {
  const redis = await startRedis({ own: true })
  t.teardown(redis.close)
  const { url } = await startApp(t, { ...LIMITS_OFF, REDIS_URL: redis.url, ADAPTER: 'redis', REDIS_KEY_PREFIX: uniquePrefix('gap') })
  const admin = new Redis(redis.url)
  t.teardown(() => { admin.disconnect() })
  const svc = token({ sub: 'svc', role: 'service' })
  const post = async (room: string, text: string): Promise<Message> => (await http(`${url}/v1/rooms/${room}/messages`, { token: svc, body: { text } })).body.message

  const alice = await connect(url, token({ sub: 'alice' }))
  const bob = await connect(url, token({ sub: 'bob' }))
  await ack(alice, 'room:join', { roomId: 'lobby' })
  await ack(bob, 'room:join', { roomId: 'quiet' })
  const atAlice = collect<Message>(alice, 'message:new')
  const atBob = collect<Message>(bob, 'message:new')
  const dropped = collect(alice, 'disconnect')
  await post('lobby', 'before')
  await until(() => atAlice.length === 1)

  // every pub/sub connection dies; ioredis reconnects it within ~100 ms. What is published in
  // between never reaches this instance's subscription.
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  for (let i = 0; i < 5; i++) await post('lobby', `during ${i}`)
  await post('quiet', 'during, to a room that had nothing yet')
  await until(() => atAlice.length >= 6 && atBob.length >= 1, 10_000)
  for (let i = 0; i < 5; i++) await post('lobby', `after ${i}`)

  const lobby = await historyOf(url, 'lobby')
  await until(() => atAlice.length >= lobby.length, 10_000)
  t.same(ids(atAlice), ids(lobby), 'every message once, in history order')
  t.same(ids(atBob), ids(await historyOf(url, 'quiet')), 'also in a room whose members had seen nothing yet')
  t.same(dropped, [], 'no socket was disconnected')
  alice.close()
  bob.close()
})
