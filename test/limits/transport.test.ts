/**
 * Per-socket rules of SPEC §7 below the event layer: MAX_ROOMS_PER_SOCKET, MAX_FRAME_BYTES (a
 * larger frame closes that connection, on both transports, and is counted in /metrics) and
 * MAX_SOCKET_BUFFER_BYTES (a client that stops reading is disconnected; the others go on).
 */
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { connect, ack, collect, type ClientSocket } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'
import { metric, metricTotal } from '../metrics/scrape.js'

const disconnected = async (s: ClientSocket, timeoutMs = 5000): Promise<string> => await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('not disconnected')), timeoutMs)
  s.once('disconnect', (reason: string) => { clearTimeout(timer); resolve(reason) })
})

t.test('MAX_ROOMS_PER_SOCKET: forbidden past the limit; the user: room does not count', async (t) => {
  const { url } = await startApp(t, { MAX_ROOMS_PER_SOCKET: '2' })
  const s = await connect(url, token({ sub: 'alice' }))
  t.equal((await ack(s, 'room:join', { roomId: 'a' })).ok, true)
  t.equal((await ack(s, 'room:join', { roomId: 'b' })).ok, true, 'two rooms besides user:alice')
  t.match(await ack(s, 'room:join', { roomId: 'c' }), { ok: false, error: { code: 'forbidden', message: String } })
  t.equal((await ack(s, 'room:join', { roomId: 'b' })).ok, true, 'joining a room it is in is not a new room')
  t.equal((await ack(s, 'room:leave', { roomId: 'a' })).ok, true)
  t.equal((await ack(s, 'room:join', { roomId: 'c' })).ok, true, 'a place is free again after a leave')
  const other = await connect(url, token({ sub: 'alice' }))
  t.equal((await ack(other, 'room:join', { roomId: 'a' })).ok, true, 'per socket, not per user')
})

for (const transport of ['websocket', 'polling'] as const) {
  t.test(`MAX_FRAME_BYTES over ${transport}: closes only that connection, counted in /metrics`, async (t) => {
    const { url } = await startApp(t, { MAX_FRAME_BYTES: '1024', RATE_LIMIT_SEND_BURST: '0' })
    const big = await connect(url, token({ sub: 'big' }), { transports: [transport] })
    const fine = await connect(url, token({ sub: 'fine' }), { transports: [transport] })
    for (const s of [big, fine]) await ack(s, 'room:join', { roomId: 'lobby' })
    const got = collect(fine, 'message:new')
    t.equal(await metric(url, 'switchboard_oversized_frames_total'), 0)

    const gone = disconnected(big)
    big.emit('message:send', { roomId: 'lobby', text: 'x'.repeat(2000) })
    t.match(await gone, /^transport (close|error)$/, 'the sender\'s connection is closed')
    await until(async () => await metric(url, 'switchboard_oversized_frames_total') === 1)
    t.equal(await metricTotal(url, 'switchboard_socket_connections'), 1, 'closed on the server too')

    t.ok(fine.connected, 'the other connection is untouched')
    const r = await ack(fine, 'message:send', { roomId: 'lobby', text: 'x'.repeat(900) })
    t.equal(r.ok, true, 'a frame under the limit passes')
    await until(() => got.length === 1)
    t.equal(got[0].id, r.message.id, 'and nothing of the oversized one was delivered')
  })
}

t.test('MAX_SOCKET_BUFFER_BYTES: a client that stops reading is disconnected, the others go on', async (t) => {
  const max = 256 * 1024
  const { url } = await startApp(t, {
    MAX_SOCKET_BUFFER_BYTES: String(max),
    MESSAGE_MAX_LENGTH: '60000',
    RATE_LIMIT_SEND_BURST: '0',
    RATE_LIMIT_EVENTS_PER_MINUTE: '0'
  })
  const slow = await connect(url, token({ sub: 'slow' }))
  const reader = await connect(url, token({ sub: 'reader' }))
  const sender = await connect(url, token({ sub: 'sender' }))
  for (const s of [slow, reader, sender]) await ack(s, 'room:join', { roomId: 'flood' })
  const received = collect(reader, 'message:new')

  // stop reading: pause the TCP socket under the client's WebSocket; the kernel's buffers fill,
  // then the server's
  const ws = (slow.io.engine as unknown as { transport: { ws: { _socket: { pause: () => void } } } }).transport.ws
  ws._socket.pause()

  const text = 'm'.repeat(50_000)
  let sent = 0
  let refused = 0
  // bounded: 40 MB at most, far more than the kernel can hold for one socket
  while (sent < 800 && (await metric(url, 'switchboard_slow_consumer_disconnects_total')) === 0) {
    for (let i = 0; i < 10; i++) {
      if ((await ack(sender, 'message:send', { roomId: 'flood', text })).ok !== true) refused++
      sent++
    }
  }
  t.equal(refused, 0, 'every send was accepted')
  t.equal(await metric(url, 'switchboard_slow_consumer_disconnects_total'), 1, `the slow client was disconnected after ${sent} messages (${(sent * text.length / 1e6).toFixed(1)} MB)`)
  await until(async () => await metricTotal(url, 'switchboard_socket_connections') === 2)
  t.equal(await metric(url, 'switchboard_namespace_sockets{namespace="/"}'), 2, 'its socket is gone from the server')

  await until(() => received.length === sent, 10_000)
  t.equal(received.length, sent, 'a client that reads got every message')
  t.ok(reader.connected && sender.connected, 'and nobody else was disconnected')
})
