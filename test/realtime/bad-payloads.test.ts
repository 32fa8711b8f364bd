/**
 * Bad input over sockets (SPEC §4, §7): every malformed payload is answered `invalid_payload`
 * (or the contract's code), with or without an ack, never reaches another client, never writes
 * history, and never crashes the instance. A frame over MAX_FRAME_BYTES closes only that
 * connection.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'
import { connect, ack, collectAll, next, recordedBefore, untilMarker } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'

const huge = 'x'.repeat(40_000)

const events = ['room:join', 'room:leave', 'message:send', 'history:fetch', 'typing', 'auth:refresh']

const badPayloads: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['a string', 'lobby'],
  ['a number', 42],
  ['a boolean', true],
  ['an array', ['lobby', 'hi']],
  ['an empty object', {}],
  ['a Buffer', Buffer.from('{"roomId":"lobby"}')]
]

const perEvent: Record<string, Array<[string, unknown, string?]>> = {
  'room:join': [
    ['roomId a number', { roomId: 1 }],
    ['roomId with bad characters', { roomId: 'lob by' }],
    ['roomId huge', { roomId: huge }],
    ['since not an id', { roomId: 'lobby', since: 'yesterday' }],
    ['since a number', { roomId: 'lobby', since: 5 }],
    ['extra property', { roomId: 'lobby', admin: true }],
    ['prototype pollution', JSON.parse('{"roomId":"lobby","__proto__":{"polluted":true}}')]
  ],
  'message:send': [
    ['text missing', { roomId: 'lobby' }],
    ['roomId missing', { text: 'hi' }],
    ['text a number', { roomId: 'lobby', text: 5 }],
    ['text empty', { roomId: 'lobby', text: '' }],
    ['text an object', { roomId: 'lobby', text: { toString: 'x' } }],
    ['meta an array', { roomId: 'lobby', text: 'hi', meta: [1] }],
    ['meta a string', { roomId: 'lobby', text: 'hi', meta: 'x' }],
    ['clientMsgId empty', { roomId: 'lobby', text: 'hi', clientMsgId: '' }],
    ['clientMsgId huge', { roomId: 'lobby', text: 'hi', clientMsgId: huge }],
    ['extra huge property', { roomId: 'lobby', text: 'hi', junk: huge }],
    ['text over the limit', { roomId: 'lobby', text: 'y'.repeat(4001) }, 'payload_too_large'],
    ['meta over 2 KiB', { roomId: 'lobby', text: 'hi', meta: { a: 'z'.repeat(3000) } }, 'payload_too_large']
  ],
  'history:fetch': [
    ['limit 0', { roomId: 'lobby', limit: 0 }],
    ['limit 101', { roomId: 'lobby', limit: 101 }],
    ['limit a string', { roomId: 'lobby', limit: '10' }],
    ['before garbage', { roomId: 'lobby', before: 'abc' }]
  ],
  typing: [
    ['isTyping a string', { roomId: 'lobby', isTyping: 'yes' }],
    ['isTyping missing', { roomId: 'lobby' }]
  ],
  'auth:refresh': [
    ['token a number', { token: 5 }],
    ['token huge', { token: 'x'.repeat(10_000) }]
  ]
}

t.test('bad payloads are refused with invalid_payload and reach nobody', async (t) => {
  const { url, app } = await startApp(t)
  const sender = await connect(url, token({ sub: 'mallory' }))
  const observer = await connect(url, token({ sub: 'olivia' }))
  await ack(sender, 'room:join', { roomId: 'lobby' })
  await ack(observer, 'room:join', { roomId: 'lobby' })
  const seen = collectAll(observer)

  for (const event of events) {
    for (const [name, payload] of [...badPayloads, ...(perEvent[event] ?? [])].map(c => [c[0], c[1], (c as unknown[])[2]] as [string, unknown, string | undefined])) {
      const r = await ack(sender, event, payload)
      const want = (perEvent[event] ?? []).find(c => c[0] === name)?.[2] ?? 'invalid_payload'
      t.equal(r.ok, false, `${event} / ${name}: refused`)
      t.equal(r.error?.code, want, `${event} / ${name}: ${want}`)
      if (want === 'invalid_payload') t.ok(Array.isArray(r.error?.details) && r.error.details.length > 0, `${event} / ${name}: details list the failing paths`)
    }
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')

  // the same without an ack callback: handled, nothing comes back, nothing breaks
  for (const event of events) {
    sender.emit(event, { roomId: 'lobby', text: 5 })
    sender.emit(event)
    sender.emit(event, 'x', 'y', 'z')
  }
  // unknown events, with and without an ack
  sender.emit('admin:takeover', { all: true })
  sender.emit('__proto__', {})
  const unknown = await ack(sender, 'does:not:exist', { roomId: 'lobby' })
  t.equal(unknown.error.code, 'not_found', 'an unknown event with an ack is answered not_found')
  // a valid message with no ack is handled exactly as with one
  sender.emit('message:send', { roomId: 'lobby', text: 'no ack but valid' })
  const delivered = await next(observer, 'message:new')
  t.equal(delivered.text, 'no ack but valid')

  // the barrier: a marker sent after all of the above; once it arrives, so has anything they broadcast
  const barrier = untilMarker(observer, 'marker')
  t.equal((await ack(sender, 'message:send', { roomId: 'lobby', text: 'marker' })).ok, true)
  await barrier
  t.same(recordedBefore(seen, 'marker').map(e => e.event), ['message:new'], 'the observer received only the one valid message')
  const history = await http(`${url}/v1/rooms/lobby/messages`, { token: token({ sub: 'olivia' }) })
  t.equal(history.body.messages.filter((m: { text: string }) => m.text !== 'marker').length, 1, 'nothing half-written in history')

  // the instance is alive and well
  t.ok(sender.connected, 'the sender is still connected: bad payloads do not cost the connection')
  const ok = await ack(sender, 'message:send', { roomId: 'lobby', text: 'still works' })
  t.equal(ok.ok, true)
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200)
})

t.test('a frame over MAX_FRAME_BYTES closes only that connection', async (t) => {
  const { url } = await startApp(t, { MAX_FRAME_BYTES: '4096' })
  const big = await connect(url, token({ sub: 'big' }))
  const other = await connect(url, token({ sub: 'other' }))
  await ack(other, 'room:join', { roomId: 'lobby' })
  await ack(big, 'room:join', { roomId: 'lobby' })
  const seen = collectAll(other)
  const closed = next<string>(big, 'disconnect', 5000)
  big.emit('message:send', { roomId: 'lobby', text: 'x'.repeat(5000) })
  t.equal(await closed, 'transport close', 'the oversized connection is closed by the server')
  // the closed connection's room:presence `left` is expected; its message must not be
  await until(() => seen.some(e => e.event === 'room:presence'))
  const barrier = untilMarker(other, 'marker')
  t.equal((await ack(other, 'message:send', { roomId: 'lobby', text: 'marker' })).ok, true)
  await barrier
  const before = recordedBefore(seen, 'marker')
  t.ok(other.connected, 'other connections are untouched')
  t.same(before.filter(e => e.event !== 'room:presence'), [], 'nothing was broadcast')
  t.same(before.map(e => e.args[0]), [{ roomId: 'lobby', userId: 'big', status: 'left' }], 'only the closed socket\'s leave')
  t.equal((await ack(other, 'message:send', { roomId: 'lobby', text: 'fine' })).ok, true)
})
