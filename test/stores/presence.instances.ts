/**
 * The presence cases that need several instances on one registry: edges reaching every
 * instance once, rooms across instances, a crashed instance swept by exactly one survivor, a
 * stalled one coming back, graceful removal, cluster stats, storms over two instances. Only the
 * Redis store is shared between instances, so only it runs these (test/stores/presence.test.ts),
 * as socket.io-redis-adapter splits its common suite from an adapter's specifics.
 */
import type { Test } from 'tap'
import { sleep, until } from '../helpers/net.js'
import { beat, record, settle, settleRooms, stats, statuses, type PresenceHarness } from './presence.helpers.js'

export function presenceInstancesSuite (t: Test, name: string, setup: (t: Test) => Promise<PresenceHarness>): void {
  t.test(`${name}: instances share the registry; each edge reaches every instance once`, async (t) => {
    const h = await setup(t)
    const s1 = await h.make('i1', 10_000)
    const s2 = await h.make('i2', 10_000)
    const r1 = record(s1)
    const r2 = record(s2)
    await s1.heartbeat(beat('i1'))
    await s2.heartbeat(beat('i2'))

    t.equal((await s1.connect('u', 'a')).edge?.status, 'online')
    t.same(await s2.connect('u', 'a'), { edge: null, connections: 2 }, 'the same socket id on another instance is another connection')
    t.match(await s1.get('u'), { status: 'online', connections: 2 })
    t.same((await s1.disconnect('u', 'a')).edge, null)
    t.match(await s2.get('u'), { status: 'online', connections: 1 })
    t.equal((await s2.disconnect('u', 'a')).edge?.status, 'offline')

    await settle(s1, r1, r2)
    t.same(statuses(r1.of('u')), ['online', 'offline'])
    t.same(r2.of('u'), r1.of('u'), 'both instances saw the same edges')
  })

  t.test(`${name}: room presence: joined on the first connection, left on the last, across instances`, async (t) => {
    const h = await setup(t)
    const s1 = await h.make('i1', 10_000)
    const s2 = await h.make('i2', 10_000)
    const r1 = record(s1)
    const r2 = record(s2)
    await s1.heartbeat(beat('i1'))
    await s2.heartbeat(beat('i2'))

    t.same(await s1.joinRoom('lobby', 'ann', 'a1'), { edge: { roomId: 'lobby', userId: 'ann', status: 'joined' } })
    t.same(await s2.joinRoom('lobby', 'ann', 'a2'), { edge: null }, 'a second socket of ann')
    t.same(await s2.joinRoom('lobby', 'bob', 'b1'), { edge: { roomId: 'lobby', userId: 'bob', status: 'joined' } })
    t.same(await s2.joinRoom('lobby', 'bob', 'b1'), { edge: null }, 'joining twice is harmless')
    t.same(await s1.joinRoom('other', 'ann', 'a1'), { edge: { roomId: 'other', userId: 'ann', status: 'joined' } })
    t.same(await s1.roomMembers('lobby'), [{ userId: 'ann', connections: 2 }, { userId: 'bob', connections: 1 }])
    t.same(await s2.roomMembers('nowhere'), [])

    t.same(await s1.leaveRoom('lobby', 'ann', 'a1'), { edge: null }, 'ann still has a socket there on i2')
    t.same(await s2.roomMembers('lobby'), [{ userId: 'ann', connections: 1 }, { userId: 'bob', connections: 1 }])
    t.same(await s2.leaveRoom('lobby', 'ann', 'a2'), { edge: { roomId: 'lobby', userId: 'ann', status: 'left' } })
    t.same(await s2.leaveRoom('lobby', 'ann', 'a2'), { edge: null }, 'leaving twice is harmless')
    t.same(await s1.roomMembers('lobby'), [{ userId: 'bob', connections: 1 }])

    await settleRooms(s1, r1, r2)
    t.same(r1.roomOf('lobby').map(e => `${e.userId}:${e.status}`), ['ann:joined', 'bob:joined', 'ann:left'])
    t.same(r2.roomOf('lobby'), r1.roomOf('lobby'))
  })

  t.test(`${name}: a crashed instance expires, and one survivor sweeps it with the edges`, async (t) => {
    const h = await setup(t)
    const ttl = 600
    const dead = await h.make('dead', ttl)
    const s2 = await h.make('s2', ttl)
    const s3 = await h.make('s3', ttl)
    const r2 = record(s2)
    const r3 = record(s3)
    for (const [s, id] of [[dead, 'dead'], [s2, 's2'], [s3, 's3']] as const) await s.heartbeat(beat(id))

    await dead.connect('x', 'a')
    await dead.connect('y', 'a')
    await s2.connect('y', 'b')
    await dead.joinRoom('room', 'x', 'a')
    await dead.joinRoom('room', 'y', 'a')
    await s2.joinRoom('room', 'y', 'b')
    const crashedAt = Date.now()
    // from here `dead` neither beats nor cleans up; the survivors keep beating
    const alive = setInterval(() => {
      s2.heartbeat(beat('s2', { users: [['y', ['b']]], online: ['y'] })).catch(() => {})
      s3.heartbeat(beat('s3')).catch(() => {})
    }, 100)
    t.teardown(() => clearInterval(alive))

    t.match(await s2.get('x'), { status: 'online' }, 'alive until its TTL')
    await until(async () => (await s2.get('x')).status === 'offline', ttl * 3)
    t.ok(Date.now() - crashedAt <= ttl + 500, 'offline on reads once the TTL has passed, before any sweep')
    const x = await s3.get('x')
    t.type(x.lastSeenAt, 'number', 'lastSeenAt is the last refresh of the expired entry')
    t.ok((x.lastSeenAt as number) >= crashedAt - ttl - 100 && (x.lastSeenAt as number) <= crashedAt + 100)
    // y's entry on the dead instance was written a few ms after x's, so it expires a few ms later
    await until(async () => (await s3.get('y')).connections === 1, 1000).catch(() => {})
    t.match(await s3.get('y'), { status: 'online', connections: 1 })
    t.same(await s2.roomMembers('room'), [{ userId: 'y', connections: 1 }], 'the dead instance\'s room entries do not count')
    t.same((await s2.stats()).instances.map(i => i.id), ['s2', 's3'])

    // both survivors sweep at once: the claim lets exactly one of them act
    const [a, b] = await Promise.all([s2.sweep(), s3.sweep()])
    t.same([...a.instances, ...b.instances], ['dead'], 'exactly one survivor swept the dead instance')
    t.equal(a.edges + b.edges, 2, 'x offline, x left the room')
    t.same(await s2.sweep(), { instances: [], edges: 0 }, 'nothing left to sweep')

    await settle(s2, r2, r3)
    await settleRooms(s2, r2, r3)
    for (const r of [r2, r3]) {
      t.same(statuses(r.of('x')), ['online', 'offline'], 'x went offline once, for every instance')
      t.same(statuses(r.of('y')), ['online'], 'y still has a socket on s2: no edge')
      t.same(r.roomOf('room').map(e => `${e.userId}:${e.status}`), ['x:joined', 'y:joined', 'x:left'])
    }
    t.match(await s2.get('x'), { status: 'offline', connections: 0 })
    t.match(await s2.get('y'), { status: 'online', connections: 1 })
    t.same(await s3.roomMembers('room'), [{ userId: 'y', connections: 1 }])
  })

  t.test(`${name}: a stalled instance that comes back is told so and restores its entries`, async (t) => {
    const h = await setup(t)
    const ttl = 400
    const stalled = await h.make('stalled', ttl)
    const s2 = await h.make('s2', ttl)
    const rec = record(s2)
    t.same(await stalled.heartbeat(beat('stalled')), { wasGone: true }, 'the first beat finds no entry')
    t.same(await stalled.heartbeat(beat('stalled')), { wasGone: false })
    await stalled.connect('z', 'a')
    await stalled.joinRoom('r', 'z', 'a')
    await sleep(ttl + 100)
    await s2.heartbeat(beat('s2'))
    t.same((await s2.sweep()).instances, ['stalled'])
    t.match(await s2.get('z'), { status: 'offline' })

    const back = await stalled.heartbeat(beat('stalled', { users: [['z', ['a']]], rooms: [['r', [['a', 'z']]]], index: { users: ['z'], rooms: ['r'] } }))
    t.same(back, { wasGone: true })
    t.match(await s2.get('z'), { status: 'online', connections: 1 })
    t.same(await s2.roomMembers('r'), [{ userId: 'z', connections: 1 }])
    await settle(s2, rec)
    t.same(statuses(rec.of('z')), ['online', 'offline', 'online'])
  })

  t.test(`${name}: removeInstance removes every entry of the instance at once`, async (t) => {
    const h = await setup(t)
    const s1 = await h.make('i1', 10_000)
    const s2 = await h.make('i2', 10_000)
    const rec = record(s2)
    await s1.heartbeat(beat('i1', { stats: stats('i1', 2) }))
    await s2.heartbeat(beat('i2'))
    await s1.connect('p', 'a')
    await s1.connect('q', 'b')
    await s2.connect('q', 'c')
    await s1.joinRoom('r', 'p', 'a')
    await s1.joinRoom('r', 'q', 'b')
    await s2.joinRoom('r', 'q', 'c')

    await s1.removeInstance()
    t.match(await s2.get('p'), { status: 'offline' })
    t.match(await s2.get('q'), { status: 'online', connections: 1 })
    t.same(await s2.roomMembers('r'), [{ userId: 'q', connections: 1 }])
    t.same((await s2.stats()).instances.map(i => i.id), ['i2'])
    await settle(s2, rec)
    await settleRooms(s2, rec)
    t.same(statuses(rec.of('p')), ['online', 'offline'])
    t.same(statuses(rec.of('q')), ['online'])
    t.same(rec.roomOf('r').map(e => `${e.userId}:${e.status}`), ['p:joined', 'q:joined', 'p:left'])
  })

  t.test(`${name}: stats list live instances and count online users`, async (t) => {
    const h = await setup(t)
    const s1 = await h.make('b-inst', 500)
    const s2 = await h.make('a-inst', 500)
    await s1.heartbeat(beat('b-inst', { stats: { id: 'b-inst', connections: 3, rooms: 2, uptimeS: 10, rssBytes: 123 } }))
    await s2.heartbeat(beat('a-inst', { stats: { id: 'a-inst', connections: 1, rooms: 0, uptimeS: 5, rssBytes: 456 } }))
    await s1.connect('u1', 'a')
    await s1.connect('u2', 'b')
    await s2.connect('u2', 'c')
    const st = await s1.stats()
    t.same(st.instances, [
      { id: 'a-inst', connections: 1, rooms: 0, uptimeS: 5, rssBytes: 456 },
      { id: 'b-inst', connections: 3, rooms: 2, uptimeS: 10, rssBytes: 123 }
    ])
    t.equal(st.onlineUsers, 2)
    await s1.disconnect('u1', 'a')
    t.equal((await s2.stats()).onlineUsers, 1, 'an offline edge leaves the count at once')

    // b-inst stops beating; a-inst goes on
    const alive = setInterval(() => { s2.heartbeat(beat('a-inst', { online: ['u2'] })).catch(() => {}) }, 100)
    t.teardown(() => clearInterval(alive))
    await until(async () => (await s2.stats()).instances.length === 1, 3000)
    t.same((await s2.stats()).instances.map(i => i.id), ['a-inst'])
  })

  t.test(`${name}: concurrent connects and disconnects on two instances give alternating edges`, async (t) => {
    const h = await setup(t)
    const s1 = await h.make('i1', 10_000)
    const s2 = await h.make('i2', 10_000)
    const rec = record(s1)
    await s1.heartbeat(beat('i1'))
    await s2.heartbeat(beat('i2'))
    const cycles = 60
    await Promise.all(Array.from({ length: cycles }, async (_, i) => {
      const s = i % 2 === 0 ? s1 : s2
      await sleep(Math.floor(Math.random() * 20))
      await s.connect('storm', `c${i}`)
      await sleep(Math.floor(Math.random() * 20))
      await s.disconnect('storm', `c${i}`)
    }))
    await settle(s1, rec)
    const seen = statuses(rec.of('storm'))
    t.ok(seen.length >= 2 && seen.length % 2 === 0, `an even number of edges (${seen.length})`)
    t.ok(seen.every((st, i) => st === (i % 2 === 0 ? 'online' : 'offline')), `edges alternate: ${seen.join(',')}`)
    t.match(await s2.get('storm'), { status: 'offline', connections: 0 })
  })
}
