/**
 * GET /metrics (SPEC §6, §2 METRICS_TOKEN): Prometheus text with Node's default metrics, route
 * durations and Switchboard's own instruments; public without METRICS_TOKEN, bearer-protected
 * with it (401 in the contract shape otherwise); never rate limited.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect, ack } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { sample, scrape } from './scrape.js'

t.test('public without METRICS_TOKEN: default, route and Switchboard metrics', async (t) => {
  const { url } = await startApp(t)
  await http(`${url}/health/live`)
  const r = await http(`${url}/metrics`)
  t.equal(r.status, 200)
  t.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = String(r.body)
  t.match(text, /^process_cpu_user_seconds_total \d/m, 'default metrics')
  t.match(text, /^nodejs_eventloop_lag_seconds /m)
  t.match(text, /^http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} 1$/m, 'route metrics')
  for (const name of ['switchboard_socket_connections{transport="websocket"}', 'switchboard_messages_sent_total{transport="socket"}', 'switchboard_rate_limit_disconnects_total', 'switchboard_oversized_frames_total', 'switchboard_slow_consumer_disconnects_total']) {
    t.equal(sample(text, name), 0, `${name} starts at 0`)
  }
  for (const kind of ['http', 'send', 'event', 'connection']) {
    t.equal(sample(text, `switchboard_rate_limited_total{kind="${kind}"}`), 0, `rate_limited{kind=${kind}} is exported from the start`)
  }

  const a = await connect(url, token({ sub: 'alice' }))
  await connect(url, token({ sub: 'admin', role: 'admin' }), { namespace: '/admin' })
  await ack(a, 'room:join', { roomId: 'lobby' })
  await ack(a, 'message:send', { roomId: 'lobby', text: 'one', clientMsgId: 'c1' })
  await ack(a, 'message:send', { roomId: 'lobby', text: 'one', clientMsgId: 'c1' })
  await ack(a, 'message:send', { roomId: 'lobby', text: 'two' })
  const after = await scrape(url)
  t.equal(sample(after, 'switchboard_socket_connections{transport="websocket"}'), 2, 'client connections')
  t.equal(sample(after, 'switchboard_namespace_sockets{namespace="/"}'), 1)
  t.equal(sample(after, 'switchboard_namespace_sockets{namespace="/admin"}'), 1)
  t.equal(sample(after, 'switchboard_messages_sent_total{transport="socket"}'), 2, 'a repeated clientMsgId is not a new message')
  a.close()
  await until(async () => sample(await scrape(url), 'switchboard_socket_connections{transport="websocket"}') === 1)
})

t.test('with METRICS_TOKEN: bearer required, 401 in the contract shape otherwise', async (t) => {
  const secret = 'metrics-secret-0123456789'
  const { url } = await startApp(t, { METRICS_TOKEN: secret })
  const none = await http(`${url}/metrics`)
  t.equal(none.status, 401)
  t.same(none.body, { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'metrics require a bearer token' })
  for (const bad of [`Bearer ${secret}x`, `Bearer ${secret.slice(0, -1)}`, `Basic ${secret}`, secret, `Bearer ${token({ sub: 'admin', role: 'admin' })}`]) {
    const r = await http(`${url}/metrics`, { headers: { authorization: bad } })
    t.match(r, { status: 401, body: { code: 'unauthorized' } }, `refused: ${bad.slice(0, 12)}…`)
  }
  const ok = await http(`${url}/metrics`, { token: secret })
  t.equal(ok.status, 200)
  t.match(String(ok.body), /^switchboard_socket_connections\{transport="websocket"\} 0$/m)
  t.equal((await http(`${url}/metrics`, { headers: { authorization: `bearer ${secret}` } })).status, 200, 'the scheme is case-insensitive')
})

t.test('/metrics is outside the REST rate limit', async (t) => {
  const { url } = await startApp(t, { RATE_LIMIT_HTTP_MAX: '1' })
  for (let i = 0; i < 10; i++) t.equal((await http(`${url}/metrics`)).status, 200)
  t.equal(sample(await scrape(url), 'switchboard_rate_limited_total{kind="http"}'), 0)
})
