/**
 * The delivery matrix (SPEC §8): the same scenarios on every mode, each in its own file
 * (memory / redis / redis-sharded / redis-streams .test.ts) so they run in parallel and start
 * their instances once. Redis modes use two real server processes on one Redis: a client drops
 * on one instance and comes back on the other.
 */
import type { Test } from 'tap'
import { ack, collect, next } from '../helpers/socket.js'
import { http } from '../helpers/app.js'
import { sleep } from '../helpers/net.js'
import { token } from '../helpers/tokens.js'
import type { Message } from '../../src/schemas/common.js'
import {
  client, closeSockets, connectAs, drop, historyOf, ids, join, open, sendMany, sessionOf, untilMarker,
  type Cluster
} from './lib.js'

const MISSED = 25

export function deliveryMatrix (t: Test, c: Cluster): void {
  const where = c.mode === 'memory' ? 'the same instance' : 'the other instance'

  t.test(`${c.mode}: a client that rejoins with since gets exactly what it missed, on ${where}`, async (t) => {
    const room = 'catch-up'
    const alice = await connectAs(c.a, 'alice')
    const bob = await connectAs(c.b, 'bob')
    await join(alice, room)
    await join(bob, room)
    const seen = next(alice, 'message:new')
    await sendMany(bob, room, 1, 'seen')
    const last: Message = await seen
    alice.close()

    const missed = await sendMany(bob, room, MISSED, 'missed')
    const back = await connectAs(c.b, 'alice')
    const r = await join(back, room, last.id)
    t.same(r, { ok: true, roomId: room, missed, hasMore: false, recovered: true }, `exactly the ${MISSED}, oldest first, as they were acknowledged`)
    t.equal(new Set(ids(r.missed)).size, MISSED, 'no duplicates')

    const elsewhere = await connectAs(c.a, 'alice')
    t.same((await join(elsewhere, room, last.id)).missed, missed, 'the same answer from the first instance')

    const later = untilMarker(back, 'marker')
    await ack(bob, 'message:send', { roomId: room, text: 'marker' })
    t.same(await later, [], 'and nothing it already has arrives again')
    closeSockets(bob, back, elsewhere)
  })

  t.test(`${c.mode}: catching up while others keep sending misses nothing`, async (t) => {
    const room = 'catch-up-live'
    const bob = await connectAs(c.b, 'bob')
    await join(bob, room)
    const [since] = await sendMany(bob, room, 1, 'start')
    // fewer than HISTORY_MAX_MESSAGES, so that all of it is still there
    const sending = sendMany(bob, room, c.historyMax - 5, 'busy')
    await sleep(20)
    const alice = await connectAs(c.a, 'alice')
    const live = collect<Message>(alice, 'message:new')
    const r = await join(alice, room, since.id)
    await sending
    const done = untilMarker(alice, 'marker')
    await ack(bob, 'message:send', { roomId: room, text: 'marker' })
    await done
    // the client's merge rule (docs/delivery.md): the missed list, then live messages it does not have yet
    const have = new Set(ids(r.missed))
    const merged = [...r.missed, ...live.filter(m => m.text !== 'marker' && !have.has(m.id))]
    const expected = (await historyOf(c.a, room)).filter(m => m.text.startsWith('busy'))
    t.same(ids(merged), ids(expected), 'missed + live = history, in order, without a gap')
    t.equal(r.recovered, true)
    closeSockets(alice, bob)
  })

  t.test(`${c.mode}: recovered is false once history was trimmed past since`, async (t) => {
    const room = 'trimmed'
    const alice = await connectAs(c.a, 'alice')
    const bob = await connectAs(c.b, 'bob')
    await join(alice, room)
    await join(bob, room)
    const seen = next(alice, 'message:new')
    await sendMany(bob, room, 1, 'seen')
    const last: Message = await seen
    alice.close()

    const sent = await sendMany(bob, room, c.historyMax + 5, 'flood')
    const back = await connectAs(c.b, 'alice')
    const r = await join(back, room, last.id)
    t.same(r, { ok: true, roomId: room, missed: sent.slice(-c.historyMax), hasMore: false, recovered: false }, 'what history still holds, and the truth about the rest')
    const kept = sent[sent.length - c.historyMax]
    t.equal((await join(back, room, kept.id)).recovered, true, 'a since that is still the oldest kept recovers')
    closeSockets(bob, back)
  })

  const reset = c.mode === 'memory' ? 'the instance restarted (in-process history is gone)' : 'the room\'s stream was deleted'
  t.test(`${c.mode}: recovered is false after ${reset}`, async (t) => {
    const room = 'reset'
    const first = await connectAs(c.b, 'bob')
    await join(first, room)
    const before = await sendMany(first, room, 3, 'old')
    const since = before[2].id
    first.close()
    await c.dropHistory(room)

    const alice = await connectAs(c.a, 'alice')
    t.same(await join(alice, room, since), { ok: true, roomId: room, missed: [], hasMore: false, recovered: false }, 'no history at all')
    const bob = await connectAs(c.b, 'bob')
    await join(bob, room)
    const fresh = await sendMany(bob, room, 3, 'new epoch')
    t.same(await join(alice, room, since), { ok: true, roomId: room, missed: fresh, hasMore: false, recovered: false }, 'a new epoch: its messages, and not recovered')
    t.equal((await join(alice, room, fresh[0].id)).recovered, true, 'positions of the new epoch recover')
    closeSockets(alice, bob)
  })

  t.test(`${c.mode}: the same clientMsgId from two sockets on two instances at once is one message`, async (t) => {
    const room = 'idem-race'
    const s1 = await connectAs(c.a, 'alice')
    const s2 = await connectAs(c.b, 'alice')
    const w1 = await connectAs(c.a, 'watcher-1')
    const w2 = await connectAs(c.b, 'watcher-2')
    for (const s of [s1, s2, w1, w2]) await join(s, room)
    const heard1 = untilMarker(w1, 'marker')
    const heard2 = untilMarker(w2, 'marker')

    const rounds = 8
    for (let k = 0; k < rounds; k++) {
      const [x, y] = await Promise.all([
        ack(s1, 'message:send', { roomId: room, text: `from A ${k}`, clientMsgId: `k${k}` }),
        ack(s2, 'message:send', { roomId: room, text: `from B ${k}`, clientMsgId: `k${k}` })
      ])
      t.ok(x.ok && y.ok, `round ${k}: both acknowledged`)
      t.same(x.message, y.message, `round ${k}: both acks carry the same message`)
    }
    const svc = token({ sub: 'svc', role: 'service' })
    const [p1, p2] = await Promise.all([
      http(`${c.a}/v1/rooms/${room}/messages`, { token: svc, body: { text: 'rest A' }, headers: { 'idempotency-key': 'rest-1' } }),
      http(`${c.b}/v1/rooms/${room}/messages`, { token: svc, body: { text: 'rest B' }, headers: { 'idempotency-key': 'rest-1' } })
    ])
    t.same([p1.status, p2.status].sort(), [200, 201], 'REST: one created, one repeat')
    t.same(p1.body.message, p2.body.message, 'REST: the same message')
    await ack(s1, 'message:send', { roomId: room, text: 'marker' })

    const expectKeys = [...Array.from({ length: rounds }, (_, k) => `k${k}`), 'rest-1']
    for (const [name, heard] of [['watcher on A', await heard1], ['watcher on B', await heard2]] as const) {
      t.same(heard.map(m => m.clientMsgId), expectKeys, `${name}: one broadcast per key`)
    }
    const h = (await historyOf(c.b, room)).filter(m => m.text !== 'marker')
    t.same(h.map(m => m.clientMsgId), expectKeys, 'one message per key in history')
    closeSockets(s1, s2, w1, w2)
  })

  t.test(`${c.mode}: concurrent senders on two instances: every receiver sees history's order`, async (t) => {
    const room = 'order'
    const alice = await connectAs(c.a, 'alice')
    const bob = await connectAs(c.b, 'bob')
    const carol = await connectAs(c.a, 'carol')
    const dave = await connectAs(c.b, 'dave')
    for (const s of [alice, bob, carol, dave]) await join(s, room)
    const heard = [alice, bob, carol, dave].map(s => untilMarker(s, 'marker'))
    // every send emitted at once from both sides: they interleave across the instances
    const each = Math.floor((c.historyMax - 1) / 2)
    const acks = await Promise.all([
      ...Array.from({ length: each }, (_, i) => ack(alice, 'message:send', { roomId: room, text: `a${i}` })),
      ...Array.from({ length: each }, (_, i) => ack(bob, 'message:send', { roomId: room, text: `b${i}` }))
    ])
    t.ok(acks.every(a => a.ok === true), `all ${2 * each} acknowledged`)
    await ack(alice, 'message:send', { roomId: room, text: 'marker' })
    const order = ids((await historyOf(c.a, room)).filter(m => m.text !== 'marker'))
    t.equal(order.length, 2 * each, 'all in history')
    const names = ['alice (A)', 'bob (B)', 'carol (A)', 'dave (B)']
    const got = await Promise.all(heard)
    got.forEach((list, i) => t.same(ids(list), order, `${names[i]} saw history's order`))
    closeSockets(alice, bob, carol, dave)
  })

  t.test(`${c.mode}: a receipt on one instance reaches members on the other`, async (t) => {
    const room = 'receipts'
    const alice = await connectAs(c.a, 'alice')
    const bob = await connectAs(c.b, 'bob')
    await join(alice, room)
    await join(bob, room)
    const [m] = await sendMany(bob, room, 1, 'read me')
    const got = next(bob, 'receipt')
    t.same(await ack(alice, 'receipt:read', { roomId: room, messageId: m.id }), { ok: true })
    t.same(await got, { roomId: room, userId: 'alice', messageId: m.id })
    const r = await http(`${c.b}/v1/rooms/${room}/receipts`, { token: token({ sub: 'bob' }) })
    t.same(r.body, { roomId: room, receipts: { alice: m.id } })
    closeSockets(alice, bob)
  })

  if (c.mode === 'memory' || c.mode === 'redis-streams') {
    t.test(`${c.mode}: connection state recovery on ${where} restores rooms, identity and missed messages`, async (t) => {
      const room = 'recovery'
      const bob = await connectAs(c.b, 'bob')
      await join(bob, room)
      const alice = await open(client(c.a, token({ sub: 'alice', name: 'Alice' })))
      await join(alice, room)
      const first = next(alice, 'message:new')
      await sendMany(bob, room, 1, 'before')
      await first // the client now holds an offset to resume from
      const oldId = alice.id
      await drop(alice)

      const missed = await sendMany(bob, room, 5, 'while away')
      const again = c.mode === 'memory' ? alice : client(c.b, token({ sub: 'alice', name: 'Alice' }), sessionOf(alice))
      const replayed = collect<Message>(again, 'message:new')
      await open(again)
      t.equal(again.recovered, true, 'recovered')
      t.equal(again.id, oldId, 'the same socket id')
      const marker = untilMarker(again, 'marker')
      await ack(bob, 'message:send', { roomId: room, text: 'marker' })
      await marker
      t.same(ids(replayed.filter(m => m.text !== 'marker')), ids(missed), 'the missed messages were replayed, in order')
      const sent = await ack(again, 'message:send', { roomId: room, text: 'still here' })
      t.equal(sent.ok, true, 'still in the room without rejoining')
      t.match(sent.message, { userId: 'alice', name: 'Alice' }, 'with its identity, without a new handshake')
      closeSockets(bob, again)
    })

    t.test(`${c.mode}: a recovered socket never outlives its token`, async (t) => {
      const room = 'recovery-exp'
      const bob = await connectAs(c.b, 'bob')
      await join(bob, room)
      const exp = Math.floor(Date.now() / 1000) + 2
      const alice = await open(client(c.a, token({ sub: 'alice', exp })))
      await join(alice, room)
      const first = next(alice, 'message:new')
      await sendMany(bob, room, 1, 'before')
      await first
      await drop(alice)
      while (Date.now() <= exp * 1000 + 200) await sleep(100)

      const again = c.mode === 'memory' ? alice : client(c.b, token({ sub: 'alice', exp }), sessionOf(alice))
      const err = await open(again).then(() => undefined, (e: Error) => e)
      t.equal(err?.message, 'token_expired', 'the handshake checks the token of a recovering socket too (test/auth/recovery.test.ts)')
      t.notOk(again.connected, 'never a recovered socket that the server then disconnects')
      closeSockets(bob, again)
    })
  } else {
    t.test(`${c.mode}: no connection state recovery; since is the way back`, async (t) => {
      const room = 'no-recovery'
      const alice = await open(client(c.a, token({ sub: 'alice' })))
      await join(alice, room)
      await drop(alice)
      await open(alice)
      t.notOk(alice.recovered, 'a new session')
      const r = await ack(alice, 'message:send', { roomId: room, text: 'x' })
      t.equal(r.error?.code, 'not_in_room', 'its rooms are gone: the client rejoins (with since)')
      closeSockets(alice)
    })
  }
}
