/**
 * The request-path Redis gate (src/stores/redis/gate.ts) against a real Redis: `unavailable`
 * means "not written" (SPEC §8), so a reply that reached the socket in time is never turned into
 * `unavailable` by a timer that ran late because the event loop was blocked; a command Redis
 * really does not answer in time still is.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { RedisGate } from '../../src/stores/redis/gate.js'

/** a script that keeps Redis busy for `ms` (on its own clock), then writes `key` */
const BUSY_THEN_SET = `
local function now () local t = redis.call('TIME'); return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
local stop = now() + tonumber(ARGV[1])
while now() < stop do end
redis.call('SET', KEYS[1], 'written')
return 'done'`

function blockFor (ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) { /* the event loop is blocked, as by a long GC or a CPU burst */ }
}

t.test('the gate: a reply in the socket wins over a late timer; no reply is still unavailable', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const raw = new Redis(redis.url, { enableAutoPipelining: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  t.teardown(() => { raw.disconnect() })
  await new Promise<void>(resolve => raw.once('ready', () => resolve()))
  const gate = new RedisGate(raw, { commandTimeoutMs: 100 })
  t.teardown(() => { gate.close() })
  const key = `${uniquePrefix('gate')}k`

  // Redis runs the script within 20 ms and its reply waits in the socket while this process is
  // blocked for 300 ms, far past the command's 100 ms
  const p = gate.client.eval(BUSY_THEN_SET, 1, key, '20')
  await new Promise(resolve => setImmediate(resolve)) // the command is written
  blockFor(300)
  t.equal(await p.then(v => v, (err: Error) => err.message), 'done', 'answered with what Redis did, not unavailable')
  t.equal(await raw.get(key), 'written')

  // and when Redis really takes longer than the command may wait: unavailable within the bound
  const started = Date.now()
  const slow = await gate.client.eval(BUSY_THEN_SET, 1, `${key}:slow`, '400').then(() => 'answered', (err: Error) => err.name)
  t.equal(slow, 'RedisUnavailable')
  t.ok(Date.now() - started < 350, `unavailable after ${Date.now() - started} ms, before Redis answered (400 ms)`)
})
