/**
 * The store contract suites (test/stores/*.contract.ts) on a real Redis Cluster of 3 primaries
 * with a replica each: history (with the send limit outside the script, as on a cluster in
 * production), presence, receipts and rate limits. Every reply is watched: a CROSSSLOT error
 * anywhere (a script whose keys are not in one hash tag) fails the file.
 */
import t, { type Test } from 'tap'
import { RedisHistoryStore } from '../../src/stores/redis/history.js'
import { RedisPresenceStore } from '../../src/stores/redis/presence.js'
import { RedisReceiptStore } from '../../src/stores/redis/receipts.js'
import { RedisRateLimitStore } from '../../src/stores/redis/rate-limit.js'
import { createKeys } from '../../src/stores/keys.js'
import { startCluster } from '../helpers/redis-cluster.js'
import { uniquePrefix } from '../helpers/redis.js'
import { historyContract } from '../stores/history.contract.js'
import { presenceContract } from '../stores/presence.contract.js'
import { presenceInstancesSuite } from '../stores/presence.instances.js'
import type { PresenceHarness } from '../stores/presence.helpers.js'
import { receiptContract } from '../stores/receipts.contract.js'
import { rateLimitContract } from '../stores/rate-limit.contract.js'
import { clusterClient, nodeSubscriber, type CrossSlotWatch } from './lib.js'

const cluster = await startCluster()
t.teardown(cluster.close)
const watch: CrossSlotWatch = { seen: [] }

historyContract(t, {
  name: 'cluster',
  // on a cluster the send limit is its own call, just before the append (a repeat costs a token)
  limitFirst: true,
  create: async (t, { maxLen }) => {
    const keys = createKeys(uniquePrefix('scale-history'))
    const client = clusterClient(t, cluster, watch)
    const store = new RedisHistoryStore({ client, subscriber: nodeSubscriber(t, cluster), keys, maxLen, foldSendLimit: false })
    t.teardown(() => store.close())
    return {
      store,
      reset: async (roomId) => { await client.del(keys.roomHistory(roomId), keys.roomMeta(roomId)) },
      listening: async () => { await store.ready() }
    }
  }
})

const presenceHarness = async (t: Test): Promise<PresenceHarness> => {
  const keys = createKeys(uniquePrefix('scale-presence'))
  return {
    make: async (instanceId, ttlMs) => {
      const store = new RedisPresenceStore({ client: clusterClient(t, cluster, watch), subscriber: nodeSubscriber(t, cluster), keys, instanceId, ttlMs })
      t.teardown(() => store.close())
      store.onPresence(() => {})
      await store.ready()
      return store
    }
  }
}
presenceContract(t, 'cluster', presenceHarness)
// the several-instance cases (shared registry, crash, stall, sweep) run on Redis only
presenceInstancesSuite(t, 'cluster', presenceHarness)

receiptContract(t, {
  name: 'cluster',
  create: async (t, { maxLen }) => {
    const keys = createKeys(uniquePrefix('scale-receipts'))
    const client = clusterClient(t, cluster, watch)
    return {
      history: new RedisHistoryStore({ client, subscriber: nodeSubscriber(t, cluster), keys, maxLen, foldSendLimit: false }),
      receipts: new RedisReceiptStore({ client, keys })
    }
  }
})

rateLimitContract(t, {
  name: 'cluster',
  create: async (t) => {
    const keys = createKeys(uniquePrefix('scale-rl'))
    return { store: new RedisRateLimitStore({ client: clusterClient(t, cluster, watch) }), key: (n) => keys.userRateLimit(n, 'test') }
  }
})

t.test('no command or script got CROSSSLOT: every multi-key script stays in one hash tag', async (t) => {
  t.same(watch.seen, [], watch.seen.join('; '))
})

t.test('the CROSSSLOT watch itself sees a multi-slot command', async (t) => {
  const probe: CrossSlotWatch = { seen: [] }
  const c = clusterClient(t, cluster, probe, { autoPipelining: false })
  await t.rejects(c.eval('return 1', 2, 'sb:{a}:x', 'sb:{b}:x'))
  t.equal(probe.seen.length, 1, 'recorded')
})
