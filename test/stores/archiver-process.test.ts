/**
 * The archiver in its own process (issue 16; src/stores/redis/archiver-process.ts) with a real
 * Redis and a real PostgreSQL: it archives what the append marks, runs as a child titled
 * `sb-archiver` (the bench tells its CPU apart by it) with nothing of the database URL in its
 * command line, reports its lag while PostgreSQL is down and catches up when it returns, counts
 * and logs a crash and restarts, closes its own Redis and PostgreSQL connections on stop, and
 * never outlives its parent (SIGKILLed parent → the child ends).
 */
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import pg from 'pg'
import { RedisHistoryStore } from '../../src/stores/redis/history.js'
import { archiveDirtyKey } from '../../src/stores/redis/archiver.js'
import { ArchiverProcess } from '../../src/stores/redis/archiver-process.js'
import { createKeys } from '../../src/stores/keys.js'
import { redisClient, startRedis, uniquePrefix } from '../helpers/redis.js'
import { createDatabase, startPostgres } from '../helpers/postgres.js'
import { sleep, until } from '../helpers/net.js'

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
  const thread = new ArchiverProcess({
    redis: { url: redis.url },
    prefix,
    databaseUrl: dbUrl,
    maxLen: 10,
    batch: 50,
    intervalMs: 50,
    restartMs: 100,
    log: { error: at('error'), warn: at('warn'), info: at('info') } as unknown as ConstructorParameters<typeof ArchiverProcess>[0]['log']
  })
  t.teardown(() => thread.stop())
  const send = async (n: number, tag: string): Promise<string[]> => {
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push((await store.append({ roomId: 'r', userId: 'u', text: `${tag}${i}` })).message.id)
    return out
  }
  return { thread, send, logged, client }
}

t.test('archives from its own process, titled sb-archiver; a crash is counted, logged and restarted', async (t) => {
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
  const first = thread.child
  t.ok(first?.pid !== undefined, 'running in a child process')
  if (process.platform === 'linux') {
    const pid = first?.pid as number
    t.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'sb-archiver', 'titled sb-archiver')
    t.notOk(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(new URL(db).pathname), 'the database URL is not on its command line')
    t.notOk(readFileSync(`/proc/${pid}/environ`, 'utf8').includes(new URL(db).pathname.slice(1)), 'nor in its environment')
  }
  first?.kill('SIGKILL')
  await until(() => thread.starts === 2 && thread.child !== undefined, 10_000)
  t.equal(thread.errors, 1, 'the crash counts as an archive error')
  t.ok(logged.some(l => l.level === 'error' && /archiver process exited/.test(l.msg)), 'and is logged')
  const more = await send(15, 'b')
  await until(async () => (await rows(db)).length === 45, 20_000, 100)
  t.same(await rows(db), [...sent, ...more], 'the restarted child goes on where the mark is: nothing lost, nothing twice')
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
  t.ok(thread.lag >= 40, `the lag is reported from the child while PostgreSQL is down (${thread.lag})`)
  await own.start()
  await until(() => thread.lag === 0, 30_000, 100)
  t.same(await rows(db), sent, 'caught up: every message once, in order')
  const named = async (): Promise<number> => ((await client.client('LIST')) as string).split('\n').filter(l => / name=sb-archive /.test(l)).length
  t.equal(await named(), 1, 'the child has its own Redis connection')
  await thread.stop()
  t.equal(thread.child, undefined, 'the child is gone')
  t.equal(await named(), 0, 'its Redis connection is closed')
  const c = new pg.Client({ connectionString: own.url })
  await c.connect()
  const { rows: conns } = await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [new URL(db).pathname.slice(1)])
  await c.end()
  t.equal(Number(conns[0].n), 0, 'and its PostgreSQL pool')
})

t.test('the child holds none of the service\'s settings in its environment, and never outlives its parent: a SIGKILLed parent leaves no archiver behind', { skip: process.platform !== 'linux' && '/proc only' }, async (t) => {
  const server = await startPostgres()
  t.teardown(server.close)
  const db = await createDatabase(server.url, `sb_orphan_${process.pid}`)
  // a parent process that starts an ArchiverProcess, prints its child's pid, then waits
  // (the migrations first, as the plugin runs them before it starts the archiver)
  const code = `import { ArchiverProcess } from ${JSON.stringify(new URL('../../src/stores/redis/archiver-process.ts', import.meta.url).href)}
    import { PgArchive } from ${JSON.stringify(new URL('../../src/stores/postgres/archive.ts', import.meta.url).href)}
    const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} }
    const p = new PgArchive(${JSON.stringify(db)}, quiet); await p.start(); await p.close()
    const a = new ArchiverProcess({ redis: { url: ${JSON.stringify(redis.url)} }, prefix: 'orphan:', databaseUrl: ${JSON.stringify(db)}, maxLen: 10, log: quiet })
    a.start(); console.log('pid=' + String(a.child.pid)); setInterval(() => {}, 1000)`
  // (with the service's settings in its environment, as the server has them)
  const parent = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DATABASE_URL: db, JWT_SECRET: 'orphan-test-secret-orphan-test-secret', METRICS_TOKEN: 'orphan-metrics-token', REDIS_URL: redis.url } })
  t.teardown(() => { parent.kill('SIGKILL') })
  const pid = await new Promise<number>((resolve) => {
    let out = ''
    parent.stdout.on('data', (b: Buffer) => { out += b.toString(); const m = /pid=(\d+)/.exec(out); if (m !== null) resolve(Number(m[1])) })
  })
  t.ok(pid > 0, `the child runs (pid ${pid})`)
  // (an orphan would hold its PostgreSQL connection and keep the server from stopping)
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch {} })
  const alive = (): boolean => { try { return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ') } catch { return false } }
  await sleep(1500)
  t.ok(alive(), 'and keeps running while its parent lives')
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
  for (const secret of [new URL(db).pathname.slice(1), 'orphan-test-secret', 'orphan-metrics-token', 'DATABASE_URL=', 'JWT_SECRET=', 'METRICS_TOKEN=', 'REDIS_URL=']) {
    t.notOk(environ.includes(secret), `the child's environment holds no ${secret.replace(/=$/, '')} (the parent's does)`)
  }
  t.ok(environ.includes('PATH='), 'it keeps the system\'s variables')
  parent.kill('SIGKILL')
  await until(() => !alive(), 10_000, 50)
  t.notOk(alive(), 'the archiver ended with its parent')
})
