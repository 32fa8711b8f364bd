/**
 * The archiver in its own thread (issue 16; src/stores/redis/archiver-thread.ts) with a real
 * Redis and a real PostgreSQL: it archives what the append marks, names its OS thread
 * `sb-archiver` (the bench tells its CPU apart by it), reports its lag while PostgreSQL is down
 * and catches up when it returns, counts and logs a crash and restarts, and closes its own Redis
 * and PostgreSQL connections on stop.
 */
import t, { type Test } from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import pg from 'pg'
import { RedisHistoryStore } from '../../src/stores/redis/history.js'
import { archiveDirtyKey } from '../../src/stores/redis/archiver.js'
import { ArchiverThread } from '../../src/stores/redis/archiver-thread.js'
import { createKeys } from '../../src/stores/keys.js'
import { redisClient, startRedis, uniquePrefix } from '../helpers/redis.js'
import { createDatabase, startPostgres } from '../helpers/postgres.js'
import { until } from '../helpers/net.js'

const redis = await startRedis({ own: true })
t.teardown(redis.close)

interface Logged { level: string, obj: Record<string, unknown>, msg: string }

async function rows (url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const r = await c.query<{ id: string }>("SELECT ms || '-' || seq AS id FROM switchboard_messages ORDER BY ms, seq")
    return r.rows.map(row => row.id)
  } catch {
    return []
  } finally {
    await c.end()
  }
}

async function rig (t: Test, dbUrl: string) {
  const prefix = uniquePrefix('archiver-thread')
  const keys = createKeys(prefix)
  const client = redisClient(t, redis.url)
  const store = new RedisHistoryStore({
    client,
    subscriber: redisClient(t, redis.url),
    keys,
    maxLen: 10,
    archive: { dirtyKey: archiveDirtyKey(keys), backlogMaxLen: 100, newest: async () => '0-0' }
  })
  t.teardown(() => store.close())
  const logged: Logged[] = []
  const at = (level: string) => (obj: Record<string, unknown> | string, msg?: string): void => {
    logged.push(typeof obj === 'string' ? { level, obj: {}, msg: obj } : { level, obj, msg: msg ?? '' })
  }
  const thread = new ArchiverThread({
    redis: { url: redis.url },
    prefix,
    databaseUrl: dbUrl,
    maxLen: 10,
    batch: 50,
    intervalMs: 50,
    restartMs: 100,
    log: { error: at('error'), warn: at('warn'), info: at('info') } as unknown as ConstructorParameters<typeof ArchiverThread>[0]['log']
  })
  t.teardown(() => thread.stop())
  const send = async (n: number, tag: string): Promise<string[]> => {
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push((await store.append({ roomId: 'r', userId: 'u', text: `${tag}${i}` })).message.id)
    return out
  }
  return { thread, send, logged, client }
}

t.test('archives from its own thread, named sb-archiver; a crash is counted, logged and restarted', async (t) => {
  const server = await startPostgres()
  t.teardown(server.close)
  const db = await createDatabase(server.url, `sb_thread_${process.pid}`)
  const { thread, send, logged } = await rig(t, db)
  thread.start()
  const sent = await send(30, 'a')
  await until(async () => (await rows(db)).length === 30 && thread.lag === 0, 20_000, 100)
  t.same(await rows(db), sent, 'all 30, once, in order')
  t.equal(thread.errors, 0)
  t.equal(thread.archived, 30, 'archived count reported back')
  if (process.platform === 'linux') {
    const names = readdirSync('/proc/self/task').map(tid => { try { return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() } catch { return '' } })
    t.ok(names.includes('sb-archiver'), 'one OS thread of this process is named sb-archiver')
  }
  const first = thread.worker
  t.ok(first !== undefined, 'running in a worker')
  await first?.terminate()
  await until(() => thread.starts === 2 && thread.worker !== undefined, 10_000)
  t.equal(thread.errors, 1, 'the crash counts as an archive error')
  t.ok(logged.some(l => l.level === 'error' && /archiver thread exited/.test(l.msg)), 'and is logged')
  const more = await send(15, 'b')
  await until(async () => (await rows(db)).length === 45, 20_000, 100)
  t.same(await rows(db), [...sent, ...more], 'the restarted thread goes on where the mark is: nothing lost, nothing twice')
  t.equal(thread.errors, 1, 'errors stay cumulative across restarts')
})

t.test('lag moves while PostgreSQL is down, catches up after; stop closes the thread\'s connections', async (t) => {
  const own = await startPostgres({ own: true, env: {} })
  t.teardown(own.close)
  const db = await createDatabase(own.url, `sb_thread_down_${process.pid}`)
  const { thread, send, client } = await rig(t, db)
  thread.start()
  const sent = await send(5, 'a')
  await until(async () => (await rows(db)).length === 5, 20_000, 100)
  await own.stop()
  sent.push(...await send(40, 'down'))
  await until(() => thread.lag >= 40, 15_000, 50)
  t.ok(thread.lag >= 40, `the lag is reported from the thread while PostgreSQL is down (${thread.lag})`)
  await own.start()
  await until(() => thread.lag === 0, 30_000, 100)
  t.same(await rows(db), sent, 'caught up: every message once, in order')
  const named = async (): Promise<number> => ((await client.client('LIST')) as string).split('\n').filter(l => / name=sb-archive /.test(l)).length
  t.equal(await named(), 1, 'the thread has its own Redis connection')
  await thread.stop()
  t.equal(thread.worker, undefined, 'the worker is gone')
  t.equal(await named(), 0, 'its Redis connection is closed')
  const c = new pg.Client({ connectionString: own.url })
  await c.connect()
  const { rows: conns } = await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [new URL(db).pathname.slice(1)])
  await c.end()
  t.equal(Number(conns[0].n), 0, 'and its PostgreSQL pool')
})
