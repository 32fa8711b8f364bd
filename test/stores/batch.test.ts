/**
 * src/stores/redis/batch.ts on a real Redis: a SlicedBatch (the presence heartbeat's) keeps the
 * order of its commands across slices, answers each, sends one slice at a time (another client's
 * command runs between two slices), and a failed slice fails the rest.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { SlicedBatch } from '../../src/stores/redis/batch.js'
import { redisClient, startRedis } from '../helpers/redis.js'

const redis = await startRedis()
t.teardown(redis.close)

t.test('450 commands in slices of 200: in order, each answered, one slice at a time', async (t) => {
  const client = redisClient(t, redis.url)
  const key = `batch-order-${process.pid}`
  const b = new SlicedBatch(client, 200)
  const replies = Array.from({ length: 450 }, () => b.add<number>(c => c.incr(key)))
  // the MONITOR stream shows whether a command of another connection ran between the slices
  const base = new Redis(redis.url)
  const monitor = await base.monitor()
  t.teardown(() => { monitor.disconnect(); base.disconnect() })
  const seen: string[] = []
  monitor.on('monitor', (_time: string, args: string[]) => { seen.push(args[0].toLowerCase()) })
  const other = redisClient(t, redis.url)
  await other.ping()
  const run = b.run()
  // issued when the first slice has answered: it must run before the last slice, not after all
  const ping = replies[199].then(async () => await other.ping())
  await Promise.all([run, ping])
  t.same(await Promise.all(replies), Array.from({ length: 450 }, (_, i) => i + 1), 'every reply, in order')
  await other.ping()
  await new Promise((resolve) => setTimeout(resolve, 100))
  const incrs = seen.map((c, i) => [c, i] as const).filter(([c]) => c === 'incr').map(([, i]) => i)
  // the PINGs: the one before the run, the one between the slices, the one after
  const pingAt = seen.map((c, i) => [c, i] as const).filter(([c]) => c === 'ping').map(([, i]) => i)[1]
  t.equal(incrs.length, 450)
  t.ok(pingAt > incrs[199] && pingAt < incrs[incrs.length - 1], `the other client's PING ran between the slices (at ${pingAt}, INCRs ${incrs[0]}…${incrs[incrs.length - 1]})`)
})

t.test('a failed slice fails it and the rest; run() throws', async (t) => {
  const client = redisClient(t, redis.url)
  const key = `batch-fail-${process.pid}`
  await client.set(key, 'not a number')
  const b = new SlicedBatch(client, 2)
  const ok = b.add<string>(c => c.ping())
  const bad = b.add<number>(c => c.incr(key))
  const after = b.add<string>(c => c.ping())
  await t.rejects(b.run(), /not an integer/)
  t.equal(await ok, 'PONG')
  await t.rejects(bad, /not an integer/)
  await t.rejects(after, /not an integer/, 'a later slice is not sent and fails with the error')
})
