/**
 * `switchboard/client` (SPEC §9) against a real server process on Redis, reached through a TCP
 * balancer the tests can take offline: catch-up after an outage (pages on, merges, dedupes,
 * in order), `recovered: false` as a gap event, a send whose ack was lost retried into one
 * message, and presence/typing/receipts over long-polling. Tokens and refusals: auth.test.ts.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { startBalancer } from '../helpers/balancer.js'
import { until, sleep } from '../helpers/net.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { createKeys } from '../../src/stores/keys.js'
import { countOf, inOrderOnce, post, recordingClient, unlimited } from './helpers.js'

const redis = await startRedis()
t.teardown(redis.close)
const prefix = uniquePrefix('client')
const server = await spawnServer(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'warn', ...unlimited })
const lb = await startBalancer(t, [server])

t.test('catch-up after an outage pages on past 200, merges with live messages, each once, in order', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'] })
  await r.client.join('c1')
  await post(server.url, 'c1', 3, 'before')
  await until(() => r.of('c1').length === 3, 10_000)

  // A message sent while the client pages on arrives twice: live (held while the room catches
  // up) and in the next page. Sent here, between the rejoin's answer and the page's request,
  // and only once the socket has heard it live, so the overlap happens on every run.
  const heardLive = new Set<string>()
  r.client.socket.on('message:new', (m) => heardLive.add(m.id))
  const request = r.client.request.bind(r.client)
  let overlap: string | undefined
  r.client.request = (async (event: string, payload: unknown, timeoutMs?: number) => {
    if (event === 'history:fetch' && overlap === undefined && !r.client.rooms.states.get('c1')?.ready) {
      const [m] = await post(server.url, 'c1', 1, 'during')
      overlap = m.id
      await until(() => heardLive.has(m.id), 10_000)
    }
    return await request(event as 'history:fetch', payload as { roomId: string }, timeoutMs)
  }) as typeof r.client.request

  lb.offline()
  await until(() => !r.client.connected, 10_000)
  await post(server.url, 'c1', 250, 'away')
  lb.online()
  await until(() => countOf(r, 'caughtUp') === 1, 30_000)
  t.ok(overlap !== undefined, 'a message was sent while the client paged on')
  await post(server.url, 'c1', 2, 'after')
  await until(() => r.of('c1').some(m => m.text === 'after1'), 10_000)

  const got = r.of('c1')
  t.equal(got.length, 256, 'before 3 + away 250 + during 1 + after 2')
  t.ok(inOrderOnce(got), 'every message once, in id order')
  t.same(got.map(m => m.text).slice(3, 6), ['away0', 'away1', 'away2'])
  t.same(got.map(m => m.text).slice(252), ['away249', 'during0', 'after0', 'after1'])
  t.match(r.events.find(e => e.event === 'caughtUp')?.data, { roomId: 'c1', count: 251, recovered: true })
  t.equal(countOf(r, 'gap'), 0, 'no gap')
  t.same(r.events.filter(e => e.event === 'connected').map(e => e.data), [{ recovered: false }, { recovered: false }], 'connected says recovered: false (the redis adapter does not recover sessions)')
})

t.test('recovered: false surfaces as a gap event', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'] })
  await r.client.join('c2')
  const [, last] = await post(server.url, 'c2', 2)
  await until(() => r.of('c2').length === 2, 10_000)

  lb.offline()
  await until(() => !r.client.connected, 10_000)
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  await admin.del(createKeys(prefix).roomHistory('c2')) // history reset: a new epoch
  await post(server.url, 'c2', 2, 'new')
  lb.online()

  await until(() => countOf(r, 'gap') === 1 && r.of('c2').length === 4, 30_000)
  t.same(r.events.find(e => e.event === 'gap')?.data, { roomId: 'c2', since: last.id })
  t.match(r.events.find(e => e.event === 'caughtUp')?.data, { roomId: 'c2', count: 2, recovered: false })
  t.same(r.of('c2').map(m => m.text), ['m0', 'm1', 'new0', 'new1'])
})

t.test('a send whose ack was lost is retried with the same clientMsgId: one message', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'], ackTimeoutMs: 800 })
  await r.client.join('c3')
  lb.blackhole(true) // the server gets the send, the client never hears the ack
  const sent = r.client.send('c3', 'exactly once')
  await until(() => r.events.some(e => e.event === 'retry' && (e.data as { kind: string }).kind === 'send'), 10_000)
  lb.blackhole(false)
  lb.cut() // the dead connection is noticed; the client reconnects, rejoins and retries
  const message = await sent
  t.match(message, { roomId: 'c3', text: 'exactly once' })

  const h = await http(`${server.url}/v1/rooms/c3/messages`, { token: token({ sub: 'bob' }) })
  t.equal(h.body.messages.length, 1, 'one message in history')
  t.equal(h.body.messages[0].id, message.id)
  await until(() => r.of('c3').length === 1, 10_000)
  // the barrier: a later message; once it is delivered, a second copy would have been too
  await post(server.url, 'c3', 1, 'marker')
  await until(() => r.of('c3').some(m => m.text === 'marker0'), 10_000)
  t.equal(r.of('c3').filter(m => m.text !== 'marker0').length, 1, 'delivered once')
})

t.test('a send answered unavailable (Redis not taking writes) is retried with the same clientMsgId: one message', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'] })
  await r.client.join('c6')
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  // writes (and scripts) wait for 3 s: the server answers unavailable at its 2 s deadline, having
  // written nothing (SPEC §8); the client retries until Redis takes the write
  await admin.call('CLIENT', 'PAUSE', '3000', 'WRITE')
  const m = await r.client.send('c6', 'after a pause')
  t.match(r.events.filter(e => e.event === 'retry').map(e => e.data), [{ kind: 'send', code: 'unavailable' }], 'retried after unavailable')
  const h = await http(`${server.url}/v1/rooms/c6/messages`, { token: token({ sub: 'bob' }) })
  t.same(h.body.messages.map((x: { id: string }) => x.id), [m.id], 'one message in history')
  await until(() => r.of('c6').length === 1, 10_000)
})

t.test('presence, typing (throttled) and receipts; long-polling and websocket clients', async (t) => {
  const b = recordingClient(t, { url: lb.url, transports: ['websocket'], token: token({ sub: 'grace' }) })
  await b.client.join('c5')
  const states = await b.client.subscribe(['frank'])
  t.match(states, [{ userId: 'frank', status: 'offline' }])
  const a = recordingClient(t, { url: lb.url, transports: ['polling'], token: token({ sub: 'frank' }) })
  await a.client.join('c5')
  await until(() => b.events.some(e => e.event === 'roomPresence' && (e.data as { userId: string }).userId === 'frank'), 10_000)
  await until(() => b.events.some(e => e.event === 'presence' && (e.data as { status: string }).status === 'online'), 10_000)

  a.client.typing('c5')
  a.client.typing('c5') // throttled: not sent
  await until(() => countOf(b, 'typing') === 1, 10_000)
  a.client.typing('c5', false)
  await until(() => countOf(b, 'typing') === 2, 10_000)

  const m = await a.client.send('c5', 'hello over polling', { meta: { k: 1 } })
  await until(() => b.of('c5').length === 1, 10_000)
  t.match(b.of('c5')[0], { id: m.id, meta: { k: 1 }, userId: 'frank' })
  await b.client.read('c5', m.id)
  await until(() => a.events.some(e => e.event === 'receipt'), 10_000)
  t.match(a.events.find(e => e.event === 'receipt')?.data, { roomId: 'c5', userId: 'grace', messageId: m.id })
  await t.rejects(a.client.send('not-joined', 'x'), { code: 'not_in_room' }, 'a contract error rejects with its code')

  // a long-polling client catches up after a drop too
  lb.offline()
  await until(() => !a.client.connected, 10_000)
  await post(server.url, 'c5', 3)
  lb.online()
  await until(() => a.of('c5').length === 4, 30_000)
  t.ok(inOrderOnce(a.of('c5')))

  // unsubscribe: of two followed users going offline, only the one still followed is told
  const told = (userId: string, status: string): boolean => b.events.some(e => e.event === 'presence' && (e.data as { userId: string }).userId === userId && (e.data as { status: string }).status === status)
  await b.client.subscribe(['gina', 'hank'])
  const gina = recordingClient(t, { url: server.url, transports: ['websocket'], token: token({ sub: 'gina' }) })
  const hank = recordingClient(t, { url: server.url, transports: ['websocket'], token: token({ sub: 'hank' }) })
  await until(() => told('gina', 'online') && told('hank', 'online'), 10_000)
  await b.client.unsubscribe(['gina'])
  gina.client.close()
  hank.client.close()
  await until(() => told('hank', 'offline'), 10_000)
  await sleep(500)
  t.notOk(told('gina', 'offline'), 'no presence event for a user unsubscribed from')
})

t.test('a text within MESSAGE_MAX_LENGTH but over MAX_FRAME_BYTES is payload_too_large at once, and the connection stays', async (t) => {
  const r = recordingClient(t, { url: lb.url, transports: ['websocket'] })
  await r.client.join('c-frame')
  await until(() => r.client.connected, 10_000)
  // 4,000 grapheme clusters (the text limit) of 18 bytes each: a 72 KB frame
  const text = '👨‍👩‍👧'.repeat(4000)
  const started = Date.now()
  await t.rejects(r.client.send('c-frame', text), { code: 'payload_too_large' })
  t.ok(Date.now() - started < 1000, 'refused without a round trip or retries')
  t.equal(countOf(r, 'disconnected'), 0, 'the connection was not closed by an oversized frame')
  t.equal(countOf(r, 'retry'), 0, 'not retried')
  const m = await r.client.send('c-frame', '👨‍👩‍👧'.repeat(100))
  t.equal(m.text, '👨‍👩‍👧'.repeat(100), 'a send within the frame limit still goes through')
})
