/**
 * The archive end to end (issue 16, SPEC §8) through the app: with DATABASE_URL, REST
 * `GET …/messages`, `history:fetch` and `room:join { since }` page on past what Redis keeps, the
 * lag is in /metrics; with an unreachable database the service starts, stays ready and sends.
 */
import t from 'tap'
import pg from 'pg'
import { startApp, http } from '../helpers/app.js'
import { ack, connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { createDatabase, startPostgres } from '../helpers/postgres.js'
import { freePort, until } from '../helpers/net.js'
import { LIMITS_OFF, ids } from '../delivery/lib.js'
import { scrape, sample } from '../metrics/scrape.js'
import type { Message } from '../../src/schemas/common.js'

const redis = await startRedis()
t.teardown(redis.close)
const pgServer = await startPostgres()
t.teardown(pgServer.close)

async function rows (url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM switchboard_messages')
    return Number(r.rows[0].n)
  } catch {
    return -1
  } finally {
    await c.end()
  }
}

t.test('reads on both transports page on into the archive', async (t) => {
  const db = await createDatabase(pgServer.url, `sb_app_${process.pid}`)
  const { url } = await startApp(t, { ...LIMITS_OFF, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('archive-app'), DATABASE_URL: db, HISTORY_MAX_MESSAGES: '5' })
  const bob = await connect(url, token({ sub: 'bob' }))
  await ack(bob, 'room:join', { roomId: 'big' })
  const sent: Message[] = []
  for (let i = 0; i < 30; i++) sent.push((await ack(bob, 'message:send', { roomId: 'big', text: `m${i}` })).message)
  // the archiver runs inside the app: watch the database fill up and the gauge drop to 0
  await until(async () => (await rows(db)) === 30 && sample(await scrape(url), 'switchboard_archive_lag_messages') === 0, 15_000, 100)
  t.equal(sample(await scrape(url), 'switchboard_archive_errors_total'), 0)

  const rest = await http(`${url}/v1/rooms/big/messages?limit=50`, { token: token({ sub: 'bob' }) })
  t.equal(rest.status, 200, JSON.stringify(rest.body).slice(0, 300))
  t.same(rest.body.messages, sent, 'REST: all 30, field for field, though Redis keeps 5')
  const page = await ack(bob, 'history:fetch', { roomId: 'big', before: sent[20].id, limit: 8 })
  t.same([ids(page.messages), page.hasMore], [ids(sent.slice(12, 20)), true], 'history:fetch from the archive')
  const alice = await connect(url, token({ sub: 'alice' }))
  const join = await ack(alice, 'room:join', { roomId: 'big', since: sent[3].id })
  t.same([ids(join.missed), join.hasMore, join.recovered], [ids(sent.slice(4)), false, true], 'room:join since: recovered across the boundary')
  bob.close()
  alice.close()
})

t.test('an unreachable database: starts, stays ready, sends and reads what Redis has', async (t) => {
  const port = await freePort()
  const { url } = await startApp(t, { ...LIMITS_OFF, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('archive-down'), DATABASE_URL: `postgres://nobody@127.0.0.1:${port}/none` })
  t.equal((await http(`${url}/health/ready`)).status, 200, 'ready')
  const bob = await connect(url, token({ sub: 'bob' }))
  await ack(bob, 'room:join', { roomId: 'r' })
  const a = await ack(bob, 'message:send', { roomId: 'r', text: 'hello' })
  t.equal(a.ok, true, 'sends work')
  const h = await ack(bob, 'history:fetch', { roomId: 'r', limit: 10 })
  t.same([ids(h.messages), h.hasMore], [[a.message.id], true], 'what Redis has; hasMore, since the archive cannot say what precedes it')
  t.equal((await http(`${url}/health/ready`)).status, 200, 'still ready')
  bob.close()
})
