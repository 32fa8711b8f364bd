import t from 'tap'
import { startApp } from '../helpers/app.js'
import { connect, ack, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'

for (const mode of ['memory', 'redis'] as const) {
  t.test(`join, send, receive (${mode})`, async (t) => {
    const env: Record<string, string> = {}
    if (mode === 'redis') {
      const r = await startRedis()
      t.teardown(r.close)
      env.REDIS_URL = r.url
      env.REDIS_KEY_PREFIX = uniquePrefix('smoke')
    }
    const { url } = await startApp(t, env)
    const a = await connect(url, token({ sub: 'alice' }))
    const b = await connect(url, token({ sub: 'bob' }))
    t.same(await ack(a, 'room:join', { roomId: 'lobby' }), { ok: true, roomId: 'lobby' })
    t.same(await ack(b, 'room:join', { roomId: 'lobby' }), { ok: true, roomId: 'lobby' })
    const got = next(b, 'message:new')
    const r = await ack(a, 'message:send', { roomId: 'lobby', text: 'hi' })
    t.equal(r.ok, true)
    t.match(r.message, { roomId: 'lobby', userId: 'alice', text: 'hi' })
    t.same(await got, r.message)
  })
}
