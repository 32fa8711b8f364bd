/**
 * Redis Sentinel for real (SPEC §2 REDIS_SENTINELS / REDIS_SENTINEL_NAME): two instances find the
 * primary through three sentinels; SIGKILL the primary while a client sends: every send answers
 * within 2 s, `unavailable` until the sentinels promote the replica, and ioredis follows the
 * sentinels to it with no restart; the other instance's relay replays the gap.
 */
import t from 'tap'
import { startSentinel } from '../helpers/redis-sentinel.js'
import { spawnServer } from '../helpers/proc.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { uniquePrefix } from '../helpers/redis.js'
import { sleep, until } from '../helpers/net.js'
import { LIMITS_OFF } from '../delivery/lib.js'
import { ackTimes, failoverRun, lost, roomHistory, summary } from './failover.js'

const sentinel = await startSentinel()
t.teardown(sentinel.close)
const env = {
  ...LIMITS_OFF,
  REDIS_SENTINELS: sentinel.sentinelsEnv,
  REDIS_SENTINEL_NAME: sentinel.name,
  REDIS_KEY_PREFIX: uniquePrefix('scale-sentinel'),
  LOG_LEVEL: 'warn'
}
const a = await spawnServer(t, env)
const b = await spawnServer(t, env)
// acks wait until the replica holds the message (SPEC §2 REDIS_WAIT_REPLICAS)
const c = await spawnServer(t, { ...env, REDIS_WAIT_REPLICAS: '1' })

/** Kills the primary, and once the sentinels replaced it restarts it as the new primary's replica (as an orchestrator would). */
async function killPrimary (doomed: number): Promise<void> {
  await sentinel.kill(doomed)
  ;(async () => {
    await until(async () => await sentinel.primary().catch(() => doomed) !== doomed, 30_000, 100)
    await sentinel.restart(doomed, await sentinel.primary())
  })().catch(() => {})
}

t.test('sentinel: the service uses the primary the sentinels name (not in-process mode)', async (t) => {
  t.same((await http(`${a.url}/health/ready`)).body, { status: 'ok', redis: 'up' })
})

t.test('sentinel: SIGKILL the primary while a client sends', async (t) => {
  const roomId = 'sentinel-room'
  const doomed = await sentinel.primary()
  const run = await failoverRun({
    senderUrl: a.url,
    memberUrl: b.url,
    roomId,
    label: 'sentinel',
    kill: async () => { await killPrimary(doomed) }
  })
  t.ok(run.failoverMs > 0, 'sends succeed again, no restart')
  if (run.failoverMs < 0) t.comment(`sender's instance:\n${a.output().slice(-3000)}`)
  t.not(await sentinel.primary(), doomed, 'the replica was promoted')
  const history = await roomHistory(a.url, roomId)
  t.comment(`Sentinel failover: ${summary(run, history)}`)
  const slowest = Math.max(...run.sent.map(s => s.ms))
  t.ok(slowest <= 2000, `every send answered within 2 s (slowest ${slowest} ms)`)
  t.same([...new Set(run.sent.filter(s => s.code !== 'ok').map(s => s.code))].filter(c => c !== 'unavailable'), [], 'a refused send is unavailable')
  t.comment(`acked messages lost with REDIS_WAIT_REPLICAS=0: ${lost(run, history).length}`)
  t.comment(`ack time with REDIS_WAIT_REPLICAS=0: ${ackTimes(run)}`)
  const last = history[history.length - 1]
  const reachedLast = await until(() => run.received.some(m => m.id === last.id), 10_000).then(() => true, () => false)
  t.ok(reachedLast, 'the member received the last message')
  if (!reachedLast) t.comment(`the member's instance:\n${b.output().slice(-3000)}`)
  const received = new Set(run.received.map(m => m.id))
  const first = run.received[0]
  t.same(history.filter(m => m.id >= first.id && m.at >= first.at).filter(m => !received.has(m.id)).map(m => m.id), [], 'the member on the other instance saw every message history kept')
  t.same(run.received.map(m => m.id), [...run.received.map(m => m.id)].sort((x, y) => Number(x.split('-')[0]) - Number(y.split('-')[0]) || Number(x.split('-')[1]) - Number(y.split('-')[1])), 'in order')
  run.sender.close()
  run.member.close()
})

// This file had two intermittent faults, both found. The first (a member that stopped receiving
// after the failover) was ioredis ending a connection for good when its Sentinel failover detector
// fired during a reconnect (src/stores/redis/keep-connected.ts, test/stores/keep-connected.test.ts).
// The second (after this second failover an instance answered `unavailable` for good, history 503
// after 30 s; about 1 in 4 full scale-suite runs) had the gate's "PING within 1 s failed" line in
// its log while the connection was still reconnecting: Redis found away then, the gate's one retry
// probe found the connection not ready and scheduled no other (src/stores/redis/gate.ts; made to
// happen on purpose in test/stores/gate.test.ts and in the last test here).
t.test('sentinel: with REDIS_WAIT_REPLICAS=1 no acknowledged message is lost across a failover', async (t) => {
  await sentinel.settled({ withReplica: true })
  const roomId = 'ledger-room'
  const run = await failoverRun({
    senderUrl: c.url,
    memberUrl: b.url,
    roomId,
    label: 'ledger',
    // until the killed primary is back as a replica, WAIT 1 cannot be met: sends are refused
    kill: async () => { await killPrimary(await sentinel.primary()) }
  })
  t.ok(run.failoverMs > 0, 'sends succeed again once there is a replica again')
  if (run.failoverMs < 0) {
    t.comment(`the sentinels' primary now: ${await sentinel.primary().catch(() => -1)} (data nodes ${sentinel.ports.join(', ')})`)
    t.comment(`sender's instance:\n${c.output().slice(-3000)}`)
  }
  const history = await roomHistory(c.url, roomId).catch((err: Error) => err)
  if (history instanceof Error) {
    t.fail(history.message)
    run.sender.close()
    run.member.close()
    return
  }
  t.comment(`Sentinel failover, REDIS_WAIT_REPLICAS=1: ${summary(run, history)}`)
  t.comment(`ack time with REDIS_WAIT_REPLICAS=1: ${ackTimes(run)}`)
  t.same(lost(run, history).map(s => s.clientMsgId), [], 'every message acked ok before, during and after the failover is in history')
  const slowest = Math.max(...run.sent.map(s => s.ms))
  t.ok(slowest <= 2000, `every send answered within 2 s (slowest ${slowest} ms)`)
  run.sender.close()
  run.member.close()
})

t.test('sentinel: Redis found away while the connection is still looking for the new primary: the instance comes back by itself', async (t) => {
  // A readiness PING is in flight when the primary hangs, then dies: ioredis rejects it while it
  // reconnects through sentinels that still name the dead primary, so the gate finds Redis away
  // while the connection is not ready. It must keep retrying: nothing else asks (no request
  // reaches Redis while it is known away, and no readiness probe comes after these).
  await sentinel.settled({ withReplica: true })
  const doomed = await sentinel.primary()
  const stop = new AbortController()
  const probes = (async () => {
    while (!stop.signal.aborted) {
      await http(`${a.url}/health/ready`).catch(() => {})
      await sleep(20)
    }
  })()
  sentinel.signal(doomed, 'SIGSTOP')
  await sleep(400)
  await killPrimary(doomed)
  await sleep(100)
  stop.abort()
  await probes
  const reader = token({ sub: 'reader' })
  const back = await until(async () => (await http(`${a.url}/v1/rooms/sentinel-room/messages?limit=1`, { token: reader })).status === 200, 30_000, 100)
    .then(() => true, () => false)
  t.ok(back, 'history is read again within 30 s, with no readiness probe from outside')
  if (!back) t.comment(`the instance's Redis log:\n${a.output().split('\n').filter(l => l.includes('"component":"redis"')).slice(-20).join('\n')}`)
})
