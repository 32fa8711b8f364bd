/**
 * The request-path Redis gate (src/stores/redis/gate.ts) against a real Redis: `unavailable`
 * means "not written" (SPEC §8), so a reply that reached the socket in time is never turned into
 * `unavailable` by a timer that ran late because the event loop was blocked; a command Redis
 * really does not answer in time still is.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { sleep, until } from '../helpers/net.js'
import { RedisGate, atDeadline } from '../../src/stores/redis/gate.js'
import { RedisHistoryStore } from '../../src/stores/redis/history.js'
import { createKeys } from '../../src/stores/keys.js'

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

t.test('one deadline per request, passed with the call: its commands share it (SPEC §8)', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const raw = new Redis(redis.url, { enableAutoPipelining: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  t.teardown(() => { raw.disconnect() })
  await new Promise<void>(resolve => raw.once('ready', () => resolve()))
  const gate = new RedisGate(raw, { commandTimeoutMs: 1000 })
  t.teardown(() => { gate.close() })
  const key = `${uniquePrefix('gate-shared')}k`

  // a request due in 600 ms making three calls one after the other
  const started = Date.now()
  const c = atDeadline(gate.client, started + 600)
  t.equal(await c.eval(BUSY_THEN_SET, 1, `${key}:1`, '350'), 'done', 'the first call (350 ms) fits')
  const second = await c.eval(BUSY_THEN_SET, 1, `${key}:2`, '500').then(() => 'answered', (err: Error) => err.name)
  const secondAt = Date.now() - started
  t.equal(second, 'RedisUnavailable', 'the second call only gets what is left of the 600 ms')
  t.ok(secondAt >= 550 && secondAt < 800, `unavailable at ${secondAt} ms after the request started (its deadline: 600 ms; alone it could wait 1000 ms)`)
  await new Promise(resolve => setTimeout(resolve, 400)) // Redis is done with the second script
  const before = Date.now()
  await t.rejects(c.get(key), { name: 'RedisUnavailable' }, 'a call after the deadline fails')
  t.ok(Date.now() - before < 50, 'at once, though Redis answers now')
  // outside any request: the per-command timeout only
  t.equal(await gate.client.eval(BUSY_THEN_SET, 1, `${key}:3`, '700'), 'done', 'without a deadline a 700 ms call is waited for (timeout 1000 ms)')
  t.equal(await atDeadline(gate.client, undefined).eval(BUSY_THEN_SET, 1, `${key}:4`, '700'), 'done', 'an undefined deadline is no deadline')
})

t.test('the history append carries its request\'s deadline to the gate and to the script: late means not written', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const raw = new Redis(redis.url, { enableAutoPipelining: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  t.teardown(() => { raw.disconnect() })
  await new Promise<void>(resolve => raw.once('ready', () => resolve()))
  const busy = new Redis(redis.url)
  t.teardown(() => { busy.disconnect() })
  const gate = new RedisGate(raw, { commandTimeoutMs: 1500 })
  t.teardown(() => { gate.close() })
  await gate.syncClock()
  const keys = createKeys(uniquePrefix('gate-append'))
  const sub = new Redis(redis.url)
  t.teardown(() => { sub.disconnect() })
  const store = new RedisHistoryStore({ client: gate.client, subscriber: sub, keys, maxLen: 10, writeDeadline: d => gate.redisDeadline(d) })
  t.teardown(() => store.close())
  const draft = { roomId: 'lobby', userId: 'alice', text: 'late', clientMsgId: 'late-1' }

  // Redis is busy for 600 ms; the request is due in 300 ms
  const blocked = busy.eval(BUSY_THEN_SET, 1, `${keys.roomHistory('x')}:busy`, '600')
  await new Promise(resolve => setTimeout(resolve, 20))
  const started = Date.now()
  await t.rejects(store.append(draft, undefined, started + 300), { code: 'unavailable' }, 'unavailable')
  const waited = Date.now() - started
  t.ok(waited >= 250 && waited < 550, `after ${waited} ms: the request's deadline, not the 1500 ms per-command timeout`)
  await blocked
  t.equal(await busy.exists(keys.roomHistory('lobby'), keys.idempotency('lobby', 'alice', 'late-1', undefined)), 0, 'the script ran after its deadline: nothing written')
  const ok = await store.append(draft, undefined, Date.now() + 1500)
  t.equal(ok.duplicate, false, 'in time: written')
  // a request whose deadline has passed makes no Redis call at all
  await t.rejects(store.range('lobby', { limit: 10 }, Date.now() - 1), { code: 'unavailable' })
  t.equal((await store.range('lobby', { limit: 10 }, Date.now() + 1500)).messages.length, 1)
})

t.test('once Redis is known away, the gate finds it back even if a retry probe came while the connection was reconnecting', async (t) => {
  // seen after a second Sentinel failover (test/scale/sentinel-failover.scale.ts): a readiness PING
  // failed, the command connection was dropped and reconnected (ioredis' failover detector), the
  // retry probe found it not ready and scheduled no other; the instance answered unavailable for good
  const redis = await startRedis({ own: true })
  t.teardown(redis.close)
  // a dropped socket is destroyed after 50 ms (not 2 s) when the stopped Redis does not close it
  const raw = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50, disconnectTimeout: 50 })
  raw.on('error', () => {})
  t.teardown(() => { raw.disconnect() })
  await new Promise<void>(resolve => raw.once('ready', () => resolve()))
  const gate = new RedisGate(raw, { commandTimeoutMs: 1000 })
  t.teardown(() => { gate.close() })

  redis.signal('SIGSTOP')
  t.equal(await gate.probe(), false, 'the readiness PING fails')
  t.equal(gate.down, true, 'Redis is known away')
  // dropped and connecting again: the TCP connect succeeds, the handshake waits for the stopped Redis
  raw.disconnect(true)
  await sleep(600)
  t.equal(raw.status, 'connect', 'not ready yet when the retry probes (every 250 ms) ran')
  redis.signal('SIGCONT')
  await until(() => raw.status === 'ready', 5000)
  const back = await until(() => !gate.down, 2000).then(() => true, () => false)
  t.ok(back, 'commands are let through again once the connection is ready (no readiness probe from outside needed)')
  t.equal(await gate.client.ping(), 'PONG')
})
