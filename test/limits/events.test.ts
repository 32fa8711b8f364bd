/**
 * RATE_LIMIT_EVENTS_PER_MINUTE per connection (every event but message:send, unknown ones
 * included), and the far-over rule (SPEC §7): a connection whose refusals pass 10× what its limit
 * allows in 10 s gets a last `rate:limited` with `reason: 'rate_limited'` and is disconnected.
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { connect, ack, next, collect, type ClientSocket } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { metric, metricTotal } from '../metrics/scrape.js'

const disconnected = async (s: ClientSocket, timeoutMs = 5000): Promise<string> => await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('not disconnected')), timeoutMs)
  s.once('disconnect', (reason: string) => { clearTimeout(timer); resolve(reason) })
})

t.test('per connection: the limit, rate:limited, other connections and message:send unaffected', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_EVENTS_PER_MINUTE: '4', RATE_LIMIT_SEND_BURST: '0' })
  const a1 = await connect(url, token({ sub: 'alice' }))
  const a2 = await connect(url, token({ sub: 'alice' }))
  t.equal((await ack(a1, 'room:join', { roomId: 'lobby' })).ok, true, 'event 1')
  for (let i = 0; i < 5; i++) t.equal((await ack(a1, 'message:send', { roomId: 'lobby', text: `${i}` })).ok, true, 'message:send does not count')
  t.equal((await ack(a1, 'history:fetch', { roomId: 'lobby' })).ok, true, 'event 2')
  t.equal((await ack(a1, 'typing', { roomId: 'lobby', isTyping: true })).ok, true, 'event 3')
  t.match(await ack(a1, 'no:such:event', {}), { ok: false, error: { code: 'not_found' } }, 'event 4: an unknown event counts too')

  const told = next(a1, 'rate:limited')
  const refused = await ack(a1, 'room:join', { roomId: 'lobby' })
  t.match(refused, { ok: false, error: { code: 'rate_limited', message: String, retryAfterMs: Number } })
  t.ok(refused.error.retryAfterMs > 0 && refused.error.retryAfterMs <= 120_000, `retryAfterMs ${refused.error.retryAfterMs}`)
  t.same(await told, { event: 'room:join', retryAfterMs: refused.error.retryAfterMs })
  t.match(await ack(a1, 'history:fetch', { roomId: 'lobby' }), { ok: false, error: { code: 'rate_limited' } }, 'any event is refused now')
  t.equal((await ack(a1, 'message:send', { roomId: 'lobby', text: 'still' })).ok, true, 'but sending is not this limit\'s business')
  t.equal((await ack(a2, 'room:join', { roomId: 'lobby' })).ok, true, 'another connection of the same user has its own budget')
  t.ok(a1.connected, 'a client slightly over its limit stays connected')
  t.equal(await metric(url, 'switchboard_rate_limited_total{kind="event"}'), 2)
})

t.test('far over the event limit: last rate:limited carries the reason, then disconnect', async (t) => {
  // 6 per minute = 1 per 10 s: 10 refusals in 10 s are allowed, the 11th disconnects
  const { url } = await startApp(t, { RATE_LIMIT_EVENTS_PER_MINUTE: '6' })
  const flood = await connect(url, token({ sub: 'mallory' }))
  const calm = await connect(url, token({ sub: 'mallory' }))
  const told = collect(flood, 'rate:limited')
  const gone = disconnected(flood)
  // without acks, as a flood would: each is handled exactly as with one
  for (let i = 0; i < 40; i++) flood.emit('room:join', { roomId: 'lobby' })
  t.equal(await gone, 'io server disconnect', 'disconnected by the server (socket.io-client will not reconnect by itself)')
  t.equal(told.length, 11, '10 refusals told as usual, then the last one')
  t.ok(told.slice(0, 10).every(e => e.reason === undefined))
  t.match(told[10], { event: 'room:join', reason: 'rate_limited', retryAfterMs: Number })
  t.ok(told[10].retryAfterMs >= 10_000, 'told to stay away for at least the 10 s window')
  t.ok(calm.connected, 'the same user\'s other connection is not touched')
  t.equal((await ack(calm, 'room:join', { roomId: 'lobby' })).ok, true)
  t.equal(await metric(url, 'switchboard_rate_limit_disconnects_total'), 1)
})

t.test('far over the send limit: the same rule for message:send refusals', async (t) => {
  // 0.1 per second = 1 per 10 s: the 11th refusal disconnects
  const { url } = await startApp(t, { RATE_LIMIT_SEND_BURST: '1', RATE_LIMIT_SEND_PER_SECOND: '0.1', RATE_LIMIT_EVENTS_PER_MINUTE: '0' })
  const flood = await connect(url, token({ sub: 'mallory' }))
  await ack(flood, 'room:join', { roomId: 'lobby' })
  const told = collect(flood, 'rate:limited')
  const gone = disconnected(flood)
  for (let i = 0; i < 20; i++) flood.emit('message:send', { roomId: 'lobby', text: `${i}` })
  t.equal(await gone, 'io server disconnect')
  t.equal(told.length, 11)
  t.match(told[10], { event: 'message:send', reason: 'rate_limited' })
  // the sends already in flight when it was disconnected are refused as well
  t.ok((await metric(url, 'switchboard_rate_limited_total{kind="send"}') ?? 0) >= 11)
  t.equal(await metricTotal(url, 'switchboard_messages_sent_total'), 1, 'only the burst got through')
})

t.test('RATE_LIMIT_EVENTS_PER_MINUTE=0 switches the per-connection limit off', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_EVENTS_PER_MINUTE: '0' })
  const s = await connect(url, token({ sub: 'alice' }))
  const told = collect(s, 'rate:limited')
  const answers = await Promise.all(Array.from({ length: 200 }, async () => await ack(s, 'room:join', { roomId: 'lobby' })))
  t.ok(answers.every(a => a.ok === true), '200 events in a burst, all answered ok')
  t.same(told, [])
})
