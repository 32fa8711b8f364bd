/**
 * The PresenceStore contract, run against every implementation (test/stores/presence.test.ts):
 * what one instance sees of its own connections, rooms and heartbeat. What needs several
 * instances (a shared registry, crashes, stalls, sweeps) is the Redis store's alone:
 * presence.instances.ts.
 */
import type { Test } from 'tap'
import { beat, record, settle, settleRooms, stats, statuses, type PresenceHarness } from './presence.helpers.js'

export function presenceContract (t: Test, name: string, setup: (t: Test) => Promise<PresenceHarness>): void {
  t.test(`${name}: two connections of one user make one online and one offline edge`, async (t) => {
    const h = await setup(t)
    const s = await h.make('i1', 10_000)
    const rec = record(s)
    await s.heartbeat(beat('i1'))
    const before = Date.now()

    const c1 = await s.connect('u1', 'a')
    t.match(c1, { edge: { userId: 'u1', status: 'online', connections: 1 }, connections: 1 })
    t.type(c1.edge?.lastSeenAt, 'number')
    t.same(await s.connect('u1', 'b'), { edge: null, connections: 2 }, 'the second tab is no edge')
    t.match(await s.get('u1'), { userId: 'u1', status: 'online', connections: 2 })

    t.same(await s.disconnect('u1', 'a'), { edge: null, connections: 1 }, 'closing one of two tabs changes nothing')
    t.match(await s.get('u1'), { status: 'online', connections: 1 })

    const last = await s.disconnect('u1', 'b')
    t.equal(last.edge?.status, 'offline')
    t.equal(last.connections, 0)
    const seen = last.edge?.lastSeenAt as number
    t.ok(seen >= before - 1000 && seen <= Date.now() + 1000, 'lastSeenAt is when the last connection went')
    t.same(await s.get('u1'), { userId: 'u1', status: 'offline', connections: 0, lastSeenAt: seen })

    t.same(await s.disconnect('u1', 'b'), { edge: null, connections: 0 }, 'removing twice is harmless')
    await settle(s, rec)
    t.same(statuses(rec.of('u1')), ['online', 'offline'])
    t.same(rec.of('u1')[1], { userId: 'u1', status: 'offline', connections: 0, lastSeenAt: seen })
  })

  t.test(`${name}: unknown users are offline with lastSeenAt null; query keeps request order`, async (t) => {
    const h = await setup(t)
    const s = await h.make('i1', 10_000)
    await s.heartbeat(beat('i1'))
    t.same(await s.get('nobody'), { userId: 'nobody', status: 'offline', connections: 0, lastSeenAt: null })
    await s.connect('x', 'a')
    await s.connect('y', 'b')
    await s.connect('y', 'c')
    await s.disconnect('y', 'c')
    await s.disconnect('y', 'b')
    const ids = ['y', 'nobody', 'x', 'odd|id{with}braces', 'x']
    const r = await s.query(ids)
    t.same(r.map(p => p.userId), ids)
    t.same(statuses(r), ['offline', 'offline', 'online', 'offline', 'online'])
    t.type(r[0].lastSeenAt, 'number')
    t.equal(r[1].lastSeenAt, null)
    t.equal(r[2].connections, 1)
    t.same(await s.query([]), [])
  })

  t.test(`${name}: a heartbeat rewrites the instance's entries (refresh, repair, remove strays)`, async (t) => {
    const h = await setup(t)
    const s = await h.make('i1', 10_000)
    const rec = record(s)
    await s.heartbeat(beat('i1'))
    await s.connect('u', 'a')
    await s.connect('u', 'b')
    await s.joinRoom('r', 'u', 'a')
    await s.joinRoom('r', 'u', 'b')

    await s.heartbeat(beat('i1', { users: [['u', ['a']]], rooms: [['r', [['a', 'u']]]] }))
    t.match(await s.get('u'), { status: 'online', connections: 1 }, 'the stray entry b is gone, no edge')
    t.same(await s.roomMembers('r'), [{ userId: 'u', connections: 1 }])

    await s.heartbeat(beat('i1', { users: [['u', []]], rooms: [['r', []]] }))
    t.match(await s.get('u'), { status: 'offline', connections: 0 })
    t.same(await s.roomMembers('r'), [])

    // a write that was lost (Redis away) is repaired by the next beat, with its edges
    await s.heartbeat(beat('i1', { users: [['u', ['a', 'c']]], rooms: [['r', [['c', 'u']]]] }))
    t.match(await s.get('u'), { status: 'online', connections: 2 })
    t.same(await s.roomMembers('r'), [{ userId: 'u', connections: 1 }])

    await settle(s, rec)
    await settleRooms(s, rec)
    t.same(statuses(rec.of('u')), ['online', 'offline', 'online'])
    t.same(rec.roomOf('r').map(e => e.status), ['joined', 'left', 'joined'])
  })

  t.test(`${name}: room presence on one instance: joined on the first socket, left on the last`, async (t) => {
    const h = await setup(t)
    const s = await h.make('i1', 10_000)
    const rec = record(s)
    await s.heartbeat(beat('i1'))
    t.same(await s.joinRoom('lobby', 'ann', 'a1'), { edge: { roomId: 'lobby', userId: 'ann', status: 'joined' } })
    t.same(await s.joinRoom('lobby', 'ann', 'a2'), { edge: null }, 'a second socket of ann')
    t.same(await s.joinRoom('lobby', 'ann', 'a2'), { edge: null }, 'joining twice is harmless')
    t.same(await s.joinRoom('lobby', 'bob', 'b1'), { edge: { roomId: 'lobby', userId: 'bob', status: 'joined' } })
    t.same(await s.roomMembers('lobby'), [{ userId: 'ann', connections: 2 }, { userId: 'bob', connections: 1 }])
    t.same(await s.leaveRoom('lobby', 'ann', 'a1'), { edge: null }, 'ann still has a socket there')
    t.same(await s.leaveRoom('lobby', 'ann', 'a2'), { edge: { roomId: 'lobby', userId: 'ann', status: 'left' } })
    t.same(await s.leaveRoom('lobby', 'ann', 'a2'), { edge: null }, 'leaving twice is harmless')
    t.same(await s.roomMembers('lobby'), [{ userId: 'bob', connections: 1 }])
    await settleRooms(s, rec)
    t.same(rec.roomOf('lobby').map(e => `${e.userId}:${e.status}`), ['ann:joined', 'bob:joined', 'ann:left'])
  })

  t.test(`${name}: one instance alone: stats, nothing to sweep, removeInstance takes everything`, async (t) => {
    const h = await setup(t)
    const s = await h.make('solo', 10_000)
    const rec = record(s)
    t.same(await s.heartbeat(beat('solo', { stats: stats('solo', 2) })), { wasGone: true }, 'the first beat')
    t.same(await s.heartbeat(beat('solo', { stats: stats('solo', 2) })), { wasGone: false })
    await s.connect('p', 'a')
    await s.connect('q', 'b')
    await s.joinRoom('r', 'p', 'a')
    t.same(await s.stats(), { instances: [stats('solo', 2)], onlineUsers: 2 })
    t.same(await s.sweep(), { instances: [], edges: 0 }, 'no other instance to sweep')
    await s.removeInstance()
    t.match(await s.query(['p', 'q']), [{ status: 'offline' }, { status: 'offline' }])
    t.same(await s.roomMembers('r'), [])
    await settle(s, rec)
    t.same(statuses(rec.of('p')), ['online', 'offline'])
    t.same(rec.roomOf('r').map(e => `${e.userId}:${e.status}`), ['p:joined', 'p:left'])
  })
}
