/**
 * The per-event limit is a Socket.IO packet middleware (`socket.use`) attached by the one
 * connection handler of each namespace; these guard what its placement must keep (SPEC §5, §7):
 * an unknown event over the limit is still answered `not_found` (by the catch-all, which runs
 * before any middleware) and told `rate:limited`; on `/admin` the limit covers its two events but
 * unknown events neither count nor get refused.
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { connect, ack, next, collect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { metric } from '../metrics/scrape.js'

t.test('namespace /: an unknown event over the limit is answered not_found and told rate:limited', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_EVENTS_PER_MINUTE: '2' })
  const s = await connect(url, token({ sub: 'unknown-flood' }))
  t.equal((await ack(s, 'room:join', { roomId: 'lobby' })).ok, true, 'event 1')
  t.match(await ack(s, 'no:such', {}), { ok: false, error: { code: 'not_found' } }, 'event 2: unknown, within the limit')
  const told = next(s, 'rate:limited')
  t.match(await ack(s, 'no:such', {}), { ok: false, error: { code: 'not_found' } }, 'over the limit: still not_found, never rate_limited')
  t.match(await told, { event: 'no:such', retryAfterMs: Number }, 'and told rate:limited')
  t.match(await ack(s, 'history:fetch', { roomId: 'lobby' }), { ok: false, error: { code: 'rate_limited' } }, 'a known event is refused by the limit')
  t.equal(await metric(url, 'switchboard_rate_limited_total{kind="event"}'), 2)
  t.equal(await metric(url, 'switchboard_socket_events_total{event="history:fetch",result="rate_limited"}'), 1, 'the refusal is counted under its event')
})

t.test('namespace /admin: its events are limited, unknown ones do not count', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_EVENTS_PER_MINUTE: '2' })
  const admin = await connect(url, token({ sub: 'root', role: 'admin' }), { namespace: '/admin' })
  const told = collect(admin, 'rate:limited')
  for (let i = 0; i < 5; i++) {
    t.match(await ack(admin, 'no:such', {}), { ok: false, error: { code: 'not_found' } }, `unknown ${i + 1}: not_found`)
  }
  t.equal(told.length, 0, 'unknown events on /admin are not counted')
  t.equal((await ack(admin, 'stats:get', {})).ok, true, 'event 1')
  t.equal((await ack(admin, 'stats:get', {})).ok, true, 'event 2')
  const refused = next(admin, 'rate:limited')
  t.match(await ack(admin, 'stats:get', {}), { ok: false, error: { code: 'rate_limited', retryAfterMs: Number } }, 'event 3 is over the limit')
  t.match(await refused, { event: 'stats:get' })
})
