/**
 * Shared by the test/scale files: Cluster connections that record every CROSSSLOT reply (a
 * multi-key script or command whose keys sit on several slots: a missing hash tag), so a test
 * can fail on one rather than let a store turn it into a quiet `internal` answer.
 */
import { Cluster, type Redis } from 'ioredis'
import type { Test } from 'tap'
import type { TestCluster } from '../helpers/redis-cluster.js'

export interface CrossSlotWatch {
  /** the commands that got CROSSSLOT, as `name: message` */
  seen: string[]
}

/** A Cluster client on the test cluster, closed when `t` ends; replies are watched for CROSSSLOT. */
export function clusterClient (t: Test, cluster: TestCluster, watch: CrossSlotWatch, opts: { autoPipelining?: boolean } = {}): Cluster {
  const c = new Cluster(cluster.nodesEnv.split(',').map(hp => ({ host: '127.0.0.1', port: Number(hp.split(':')[1]) })), {
    enableAutoPipelining: opts.autoPipelining ?? true,
    redisOptions: { maxRetriesPerRequest: 1 }
  })
  c.on('error', () => {})
  const send = c.sendCommand.bind(c)
  // a command is handed to sendCommand again when it is retried: watch it once
  const watched = new WeakSet<object>()
  c.sendCommand = ((command: Parameters<Cluster['sendCommand']>[0], ...rest: unknown[]) => {
    if (!watched.has(command)) watched.add(command)
    else return (send as (...a: unknown[]) => unknown)(command, ...rest)
    command.promise.catch((err: Error) => {
      if (/CROSSSLOT/.test(err.message)) watch.seen.push(`${command.name}: ${err.message}`)
    })
    return (send as (...a: unknown[]) => unknown)(command, ...rest)
  }) as Cluster['sendCommand']
  t.teardown(() => { c.disconnect() })
  return c
}

/** A plain connection to one node (for a subscriber: classic PUBLISH reaches every node). */
export function nodeSubscriber (t: Test, cluster: TestCluster): Redis {
  const c = cluster.node(cluster.nodes[0].port).duplicate()
  c.on('error', () => {})
  t.teardown(() => { c.disconnect() })
  return c
}
