/**
 * Connection state recovery never bypasses authentication (SPEC §3, §8; issue 9 item 1): every
 * reconnect presents a token that is verified; a session is restored only for the same `sub`
 * (whose fresh token then sets the expiry and claims); another principal's recovery ids give a
 * fresh session and none of the other's rooms or missed messages; an invalid or expired token is
 * the contract's connect_error. In-process, and across two instances with ADAPTER=redis-streams.
 */
import t from 'tap'
import { ack, collect, type ClientSocket } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { sleep } from '../helpers/net.js'
import { startCluster, client, open, drop, sessionOf, connectAs, join, sendMany } from '../delivery/lib.js'
import type { Message } from '../../src/schemas/common.js'

type ConnectError = Error & { data?: { code: string } }

for (const mode of ['memory', 'redis-streams'] as const) {
  t.test(mode, async (t) => {
    const c = await startCluster(t, mode, 100)
    const where = mode === 'memory' ? 'the same instance' : 'another instance'

    /** alice in `room`, dropped after she saw one message; then `missed` are sent while she is away */
    async function aliceAway (room: string, exp?: number): Promise<{ alice: ClientSocket, bob: ClientSocket, session: { pid: string, offset: string | undefined }, oldId: string, missed: Message[] }> {
      const bob = await connectAs(c.b, 'bob')
      await join(bob, room)
      const alice = await open(client(c.a, token({ sub: 'alice', ...(exp !== undefined && { exp }) })))
      await join(alice, room)
      const first = new Promise(resolve => alice.once('message:new', resolve))
      await sendMany(bob, room, 1, 'before')
      await first
      const oldId = alice.id!
      t.ok(oldId.startsWith('~'), 'socket ids are outside the room id alphabet')
      const session = sessionOf(alice)
      await drop(alice)
      alice.close()
      const missed = await sendMany(bob, room, 3, 'while away')
      return { alice, bob, session, oldId, missed }
    }

    t.test(`bob's token with alice's recovery ids on ${where}: a fresh session for bob`, async (t) => {
      const room = `rec-impersonate-${mode}`
      const { bob, session, oldId } = await aliceAway(room)
      const intruder = client(c.b, token({ sub: 'bob' }), session)
      const replayed = collect<Message>(intruder, 'message:new')
      await open(intruder)
      t.equal(intruder.recovered, false, 'not recovered')
      t.not(intruder.id, oldId, 'not alice\'s socket')
      // a recovered session's missed packets follow the connect packet: the answer to a later
      // event is the barrier after which none of them can still arrive
      const r = await ack(intruder, 'message:send', { roomId: room, text: 'as whom?' })
      t.same(replayed, [], 'none of alice\'s missed messages')
      t.equal(r.error?.code, 'not_in_room', 'none of alice\'s rooms')
      const joined = await ack(intruder, 'room:join', { roomId: room })
      t.equal(joined.ok, true)
      const sent = await ack(intruder, 'message:send', { roomId: room, text: 'hi' })
      t.equal(sent.message.userId, 'bob', 'its identity is its own token\'s')
      intruder.close()
      bob.close()
    })

    t.test(`recovery ids with "not-a-jwt" on ${where}: connect_error unauthorized`, async (t) => {
      const room = `rec-nojwt-${mode}`
      const { bob, session } = await aliceAway(room)
      const intruder = client(c.b, 'not-a-jwt', session)
      const replayed = collect<Message>(intruder, 'message:new')
      const err = await open(intruder).then(() => undefined, (e: ConnectError) => e)
      t.equal(err?.message, 'unauthorized')
      t.equal(err?.data?.code, 'unauthorized')
      t.same(replayed, [], 'nothing of the session reached it')
      intruder.close()
      bob.close()
    })

    t.test(`a token that expired during the gap on ${where}: connect_error token_expired`, async (t) => {
      const room = `rec-expired-${mode}`
      const exp = Math.floor(Date.now() / 1000) + 2
      const { bob, session } = await aliceAway(room, exp)
      while (Date.now() <= exp * 1000 + 200) await sleep(100)
      const again = client(c.b, token({ sub: 'alice', exp }), session)
      const replayed = collect<Message>(again, 'message:new')
      const err = await open(again).then(() => undefined, (e: ConnectError) => e)
      t.equal(err?.message, 'token_expired', 'refused at the handshake, never a recovered socket that is then disconnected')
      t.same(replayed, [])
      again.close()
      bob.close()
    })

    t.test(`alice's fresh token with her recovery ids on ${where}: recovered, with the new token's claims`, async (t) => {
      const room = `rec-same-${mode}`
      const { bob, session, oldId, missed } = await aliceAway(room, Math.floor(Date.now() / 1000) + 30)
      const exp = Math.floor(Date.now() / 1000) + 3600
      const again = client(c.b, token({ sub: 'alice', name: 'Alice Again', exp }), session)
      const replayed = collect<Message>(again, 'message:new')
      await open(again)
      t.equal(again.recovered, true, 'recovered')
      t.equal(again.id, oldId, 'the same socket')
      t.same(replayed.map(m => m.id), missed.map(m => m.id), 'the missed messages, in order')
      const sent = await ack(again, 'message:send', { roomId: room, text: 'back' })
      t.match(sent.message, { userId: 'alice', name: 'Alice Again' }, 'the new token\'s claims')
      const refreshed = await ack(again, 'auth:refresh', { token: token({ sub: 'alice', exp: exp + 10 }) })
      t.equal(refreshed.expiresAt, (exp + 10) * 1000)
      again.close()
      bob.close()
    })

    t.test(`a recovered session keeps only the rooms its new token allows on ${where}`, async (t) => {
      const room = `rec-narrow-${mode}`
      const { bob, session } = await aliceAway(room)
      const again = client(c.b, token({ sub: 'alice', rooms: ['elsewhere'] }), session)
      const got = collect<Message>(again, 'message:new')
      await open(again)
      t.equal(again.recovered, true)
      const r = await ack(again, 'message:send', { roomId: room, text: 'still?' })
      t.equal(r.error?.code, 'forbidden', 'the room the narrower token does not allow is gone')
      // the missed packets are judged by the new token too, and the room is left for real: a
      // message sent there now reaches bob (on the same instance) and not alice; an ack of
      // alice's after bob's echo is the barrier
      const echo = new Promise(resolve => bob.once('message:new', resolve))
      await sendMany(bob, room, 1, 'after the restore')
      await echo
      await ack(again, 'history:fetch', { roomId: 'elsewhere' })
      t.same(got.map(m => m.text), [], 'nothing of the room it may no longer use: neither the missed messages nor new ones')
      again.close()
      bob.close()
    })
  })
}
