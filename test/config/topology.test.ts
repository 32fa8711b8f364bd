/**
 * The Redis topology variables (SPEC §2): REDIS_SENTINELS with REDIS_SENTINEL_NAME, at most one
 * of REDIS_URL / REDIS_CLUSTER_NODES / REDIS_SENTINELS, REDIS_WAIT_REPLICAS. A bad combination
 * is one line naming the variables (the process then exits 1, as config.test.ts shows).
 */
import t from 'tap'
import { parseConfig, ConfigError } from '../../src/config.js'

t.test('Sentinel: both variables, parsed; ADAPTER applies as with REDIS_URL', async (t) => {
  const c = parseConfig({ REDIS_SENTINELS: 's1:26379,10.0.0.2:26380', REDIS_SENTINEL_NAME: 'mymaster' })
  t.same(c.redisSentinels, [{ host: 's1', port: 26379 }, { host: '10.0.0.2', port: 26380 }])
  t.equal(c.REDIS_SENTINEL_NAME, 'mymaster')
  t.equal(c.ADAPTER, 'redis', 'Redis is configured: not in-process mode')
  t.equal(parseConfig({ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', ADAPTER: 'redis-streams' }).ADAPTER, 'redis-streams')
  t.same(parseConfig({}).redisSentinels, [])
})

t.test('REDIS_WAIT_REPLICAS: 0 by default, an integer with Redis', async (t) => {
  t.equal(parseConfig({}).REDIS_WAIT_REPLICAS, 0)
  t.equal(parseConfig({ REDIS_URL: 'redis://h:1', REDIS_WAIT_REPLICAS: '2' }).REDIS_WAIT_REPLICAS, 2)
  t.equal(parseConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_WAIT_REPLICAS: '1' }).REDIS_WAIT_REPLICAS, 1)
})

const bad: Array<[Record<string, string>, RegExp]> = [
  [{ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: 'a:1' }, /REDIS_URL and REDIS_CLUSTER_NODES are both set/],
  [{ REDIS_URL: 'redis://h:1', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm' }, /REDIS_URL and REDIS_SENTINELS/],
  [{ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm' }, /are all set/],
  [{ REDIS_SENTINELS: 's:1' }, /REDIS_SENTINELS is set without REDIS_SENTINEL_NAME/],
  [{ REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINEL_NAME is set without REDIS_SENTINELS/],
  [{ REDIS_SENTINELS: 'nohost', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS/],
  [{ REDIS_SENTINELS: 's:0', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS.*ports 1-65535/],
  [{ REDIS_CLUSTER_NODES: 'a:99999' }, /REDIS_CLUSTER_NODES.*ports 1-65535/],
  [{ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'has space' }, /REDIS_SENTINEL_NAME/],
  [{ REDIS_URL: 'redis://h:1', REDIS_WAIT_REPLICAS: '-1' }, /REDIS_WAIT_REPLICAS/],
  [{ REDIS_URL: 'redis://h:1', REDIS_WAIT_REPLICAS: 'one' }, /REDIS_WAIT_REPLICAS/],
  [{ REDIS_WAIT_REPLICAS: '1' }, /REDIS_WAIT_REPLICAS=1 needs Redis/],
  [{ ADAPTER: 'redis' }, /needs REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS/]
]

t.test('bad combinations are one line naming the variables', async (t) => {
  for (const [env, pattern] of bad) {
    t.throws(() => parseConfig(env), ConfigError)
    try {
      parseConfig(env)
    } catch (err) {
      const msg = (err as Error).message
      t.match(msg, pattern, JSON.stringify(env))
      t.notOk(msg.includes('\n'), 'one line')
    }
  }
})
