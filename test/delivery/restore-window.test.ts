/**
 * A restored session misses nothing broadcast while its handshake middlewares still run
 * (SPEC §8 "No gap after a drop"). Socket.IO restores the rooms before the middlewares and
 * delivers to the socket only after them; a message sent in between was lost (the nginx
 * rolling-restart test saw 1–2 acked messages missing around a restore). Here the window is
 * held open on purpose by one more real middleware on the real server, a message is sent and
 * acked inside it, and the window is then released: the restored client gets the missed
 * messages, then the one from the window, each once, in room order. In-process (memory
 * adapter) and across two instances on one Redis (ADAPTER=redis-streams).
 */
import t from 'tap'
import { startInner } from '../helpers/app.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { token } from '../helpers/tokens.js'
import { client, open, drop, sessionOf, connectAs, join, sendMany, ids, LIMITS_OFF } from './lib.js'
import type { Message } from '../../src/schemas/common.js'
import type { ClientSocket } from '../helpers/socket.js'

/**
 * bob (on instance b) and carol (on a, telling when a broadcast has reached a) in `room`; alice
 * joins on a, gets one message, drops her transport (the session is kept for recovery) and
 * misses two more. Returns her session and what she missed.
 */
async function aliceAway (aUrl: string, bUrl: string, room: string): Promise<{ bob: ClientSocket, carol: ClientSocket, session: ReturnType<typeof sessionOf>, missed: Message[] }> {
  const bob = await connectAs(bUrl, 'bob')
  await join(bob, room)
  const carol = await connectAs(aUrl, 'carol')
  await join(carol, room)
  const alice = await open(client(aUrl, token({ sub: 'alice' })))
  await join(alice, room)
  const first = new Promise(resolve => alice.once('message:new', resolve))
  await sendMany(bob, room, 1, 'before')
  await first
  const session = sessionOf(alice)
  await drop(alice)
  alice.close()
  return { bob, carol, session, missed: await sendMany(bob, room, 2, 'while away') }
}

for (const mode of ['memory', 'redis-streams'] as const) {
  t.test(mode, async (t) => {
    let env: Record<string, string> = { ...LIMITS_OFF, LOG_LEVEL: 'warn' }
    if (mode === 'redis-streams') {
      const redis = await startRedis()
      t.teardown(redis.close)
      env = { ...env, REDIS_URL: redis.url, ADAPTER: mode, REDIS_KEY_PREFIX: uniquePrefix('restore-window') }
    }
    const a = await startInner(t, env)
    const b = mode === 'memory' ? a : await startInner(t, env)

    // holds every recovering handshake on instance a until released
    let release: () => void = () => {}
    let entered: () => void = () => {}
    const held = new Promise<void>(resolve => { entered = resolve })
    const released = new Promise<void>(resolve => { release = resolve })
    a.inner.io.of('/').use((socket, next) => {
      if (!socket.recovered) return next()
      entered()
      released.then(() => next(), next)
    })

    const room = `restore-window-${mode}`
    const { bob, carol, session, missed } = await aliceAway(a.url, b.url, room)

    const again: ClientSocket = client(a.url, token({ sub: 'alice' }), session)
    const got: Message[] = []
    again.on('message:new', (m: Message) => got.push(m))
    const connected = open(again)
    await held
    const reachedA = new Promise<void>(resolve => carol.on('message:new', (m: Message) => { if (m.text === 'while restoring 0') resolve() }))
    const inWindow = await sendMany(bob, room, 1, 'while restoring')
    await reachedA // instance a has delivered it to its sockets while alice's handshake is held
    release()
    await connected
    t.equal(again.recovered, true, 'the session was restored')
    const after = await sendMany(bob, room, 1, 'after')
    // `after` is the barrier: a socket's packets arrive in order, so nothing before it is still on the way
    const deadline = Date.now() + 5000
    while (!got.some(m => m.id === after[0].id) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    t.same(ids(got), ids([...missed, ...inWindow, ...after]), 'missed, then the one sent while restoring, then live: each once, in order')
    again.close()
    bob.close()
    carol.close()
  })
}

/**
 * The window before that one: the adapter's restoreSession has read the stream to its end (the
 * last XRANGE came back empty), and the socket does not exist yet. A message appended then
 * reaches this instance's stream reader, which broadcasts it to the sockets in the room; the
 * restored socket is not among them, and the read that built its missed packets is over. In
 * production the window is a Redis event loop turn (Redis writes the blocked XREAD's reply
 * before the XRANGE's when it serves both in one turn); here it is held open by delaying the
 * restore's answer until the message has reached the instance.
 */
t.test('redis-streams: a message that reaches the instance after the restore read the stream, before the socket exists', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const env = { ...LIMITS_OFF, LOG_LEVEL: 'warn', REDIS_URL: redis.url, ADAPTER: 'redis-streams', REDIS_KEY_PREFIX: uniquePrefix('restore-read') }
  const a = await startInner(t, env)
  const b = await startInner(t, env)
  const room = 'restore-after-read'
  const { bob, carol, session, missed } = await aliceAway(a.url, b.url, room)

  // instance a's restore: read the stream, then let one more message arrive before answering
  const adapter = a.inner.io.of('/').adapter as unknown as { restoreSession: (pid: string, offset: string) => Promise<unknown> }
  const restore = adapter.restoreSession.bind(adapter)
  let inWindow: Message[] = []
  adapter.restoreSession = async (pid, offset) => {
    const restored = await restore(pid, offset)
    const reachedA = new Promise<void>(resolve => carol.on('message:new', (m: Message) => { if (m.text === 'after the read 0') resolve() }))
    inWindow = await sendMany(bob, room, 1, 'after the read')
    await reachedA // instance a's reader has broadcast it; the restored socket is not built yet
    return restored
  }
  const again: ClientSocket = client(a.url, token({ sub: 'alice' }), session)
  const got: Message[] = []
  again.on('message:new', (m: Message) => got.push(m))
  await open(again)
  t.equal(again.recovered, true, 'the session was restored')
  const after = await sendMany(bob, room, 1, 'after')
  const deadline = Date.now() + 5000
  while (!got.some(m => m.id === after[0].id) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.same(ids(got), ids([...missed, ...inWindow, ...after]), 'missed, then the one that arrived after the read, then live: each once, in order')
  again.close()
  bob.close()
  carol.close()
})
