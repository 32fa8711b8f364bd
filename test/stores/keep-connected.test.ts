/**
 * keepConnected (src/stores/redis/keep-connected.ts) against a real Redis. ioredis ends a
 * connection for good when its connector is disconnected while a connect attempt is pending —
 * what its Sentinel failover detector does when `+switch-master` arrives during a reconnect.
 * `disconnect(true)` ("disconnect and reconnect") while connecting takes the same path with the
 * public API, so the race is reproduced here deterministically; the Sentinel failover itself
 * runs in test/scale/sentinel-failover.scale.ts.
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { startRedis } from '../helpers/redis.js'
import { sleep, until } from '../helpers/net.js'
import { keepConnected, RECONNECT_AFTER_MS } from '../../src/stores/redis/keep-connected.js'

const redis = await startRedis()
t.teardown(redis.close)

function connection (t: Test): Redis {
  const c = new Redis(redis.url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 })
  c.on('error', () => {})
  t.teardown(() => { c.disconnect() })
  return c
}

/** a reconnect asked for while the connection is still connecting */
function abortConnecting (c: Redis): void {
  c.connect().catch(() => {})
  c.disconnect(true)
}

t.test('ioredis on its own: a connector disconnected during a pending connect ends the connection for good', async (t) => {
  // if this starts failing, ioredis fixed the race and keepConnected can go
  const c = connection(t)
  abortConnecting(c)
  await sleep(RECONNECT_AFTER_MS * 5)
  t.equal(c.status, 'end', 'no reconnect by itself')
})

t.test('keepConnected: such a connection is connected again and answers', async (t) => {
  const c = connection(t)
  keepConnected(c, () => false)
  abortConnecting(c)
  await until(() => c.status === 'ready', 5000)
  t.equal(await c.ping(), 'PONG')
})

t.test('keepConnected: a connection its owner closes stays closed', async (t) => {
  const closedByOwner = connection(t)
  keepConnected(closedByOwner, () => false)
  await closedByOwner.connect()
  closedByOwner.disconnect()
  const closedWhileConnecting = connection(t)
  keepConnected(closedWhileConnecting, () => false)
  closedWhileConnecting.connect().catch(() => {})
  closedWhileConnecting.disconnect()
  let closing = false
  const ownerClosing = connection(t)
  keepConnected(ownerClosing, () => closing)
  closing = true
  abortConnecting(ownerClosing)
  await sleep(RECONNECT_AFTER_MS * 5)
  t.equal(closedByOwner.status, 'end', 'disconnect() after ready')
  t.equal(closedWhileConnecting.status, 'end', 'disconnect() while connecting')
  t.equal(ownerClosing.status, 'end', 'the owner is closing')
})
