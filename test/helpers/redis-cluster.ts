/**
 * A real Redis Cluster for tests: 3 primaries with 1 replica each, on free loopback ports, built
 * with Debian's `redis-server --cluster-enabled yes` and `redis-cli --cluster create`. A short
 * `cluster-node-timeout` makes a killed primary's replica take over within a few seconds.
 * Each node keeps its nodes.conf in a temporary directory, so a killed node restarted on its
 * port rejoins (as a replica of whoever took its slots). Everything is stopped on `close()`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort, until } from './net.js'

const run = promisify(execFile)

/** ms a node may be unreachable before the cluster fails it over (Redis default: 15000) */
export const CLUSTER_NODE_TIMEOUT_MS = 1000

export interface ClusterNode {
  port: number
  /** its nodes.conf (its identity in the cluster), kept when it moves to another port */
  conf: string
  /** the child process while it runs */
  proc: ChildProcess | undefined
}

export interface TestCluster {
  nodes: ClusterNode[]
  /** `host:port` list for REDIS_CLUSTER_NODES */
  nodesEnv: string
  /** the port of the primary that owns `key`'s slot now */
  primaryOf: (key: string) => Promise<number>
  /** SIGKILLs the node on `port` and waits for the process to exit */
  kill: (port: number) => Promise<void>
  /** starts a killed node again on its port (it rejoins with its nodes.conf) */
  restart: (port: number) => Promise<void>
  /** starts a killed node again on a new free port (same identity: the cluster learns the new address); returns the port */
  restartElsewhere: (port: number) => Promise<number>
  /** resolves when every running node reports cluster_state:ok and the same slot owner for `key`, which has a replica in sync */
  settled: (key?: string) => Promise<void>
  /** a direct connection to one node (closed by `close`) */
  node: (port: number) => Redis
  close: () => Promise<void>
}

async function cli (port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })
  return stdout
}

async function pingable (port: number, timeoutMs = 5000): Promise<void> {
  await until(async () => {
    try { return (await cli(port, 'PING')).trim() === 'PONG' } catch { return false }
  }, timeoutMs, 20)
}

/** Starts the cluster; about 2–4 s on an idle machine. */
export async function startCluster (): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-cluster-'))
  const ports: number[] = []
  while (ports.length < 6) {
    const p = await freePort()
    // the cluster bus listens on port + 10000: both must be free
    if (p + 10000 < 65536 && !ports.includes(p)) ports.push(p)
  }
  const nodes: ClusterNode[] = ports.map(port => ({ port, conf: `nodes-${port}.conf`, proc: undefined }))
  const conns = new Map<number, Redis>()

  const startNode = async (n: ClusterNode): Promise<void> => {
    n.proc = spawn('redis-server', [
      '--port', String(n.port), '--bind', '127.0.0.1', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', n.conf,
      '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS),
      // a replica with stale data may still take over (the test kills primaries on purpose)
      '--cluster-replica-validity-factor', '0',
      // diskless sync without the default 5 s wait for more replicas: a restarted node syncs sooner
      '--repl-diskless-sync-delay', '0',
      '--save', '', '--appendonly', 'no', '--loglevel', 'warning'
    ], { stdio: 'ignore' })
    await pingable(n.port)
  }
  const byPort = (port: number): ClusterNode => {
    const n = nodes.find(x => x.port === port)
    if (n === undefined) throw new Error(`no cluster node on ${port}`)
    return n
  }

  const api: TestCluster = {
    nodes,
    nodesEnv: ports.map(p => `127.0.0.1:${p}`).join(','),
    node: (port) => {
      let c = conns.get(port)
      if (c === undefined) {
        c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 200 })
        c.on('error', () => {})
        conns.set(port, c)
      }
      return c
    },
    primaryOf: async (key) => {
      const live = nodes.find(n => n.proc !== undefined)
      if (live === undefined) throw new Error('no node runs')
      const slot = Number(await cli(live.port, 'CLUSTER', 'KEYSLOT', key))
      const shards = await api.node(live.port).call('CLUSTER', 'SLOTS') as Array<[number, number, [string, number]]>
      const owner = shards.find(([from, to]) => slot >= from && slot <= to)
      if (owner === undefined) throw new Error(`slot ${slot} has no owner`)
      return Number(owner[2][1])
    },
    kill: async (port) => {
      const n = byPort(port)
      const p = n.proc
      n.proc = undefined
      conns.get(port)?.disconnect()
      conns.delete(port)
      if (p === undefined || p.exitCode !== null) return
      const exited = new Promise(resolve => p.once('exit', resolve))
      p.kill('SIGKILL')
      await exited
    },
    restart: async (port) => { await startNode(byPort(port)) },
    restartElsewhere: async (port) => {
      const n = byPort(port)
      let next = await freePort()
      while (next + 10000 >= 65536 || nodes.some(x => x.port === next)) next = await freePort()
      n.port = next
      await startNode(n)
      return next
    },
    settled: async (key) => {
      await until(async () => {
        try {
          const running = nodes.filter(n => n.proc !== undefined)
          const infos = await Promise.all(running.map(async n => await cli(n.port, 'CLUSTER', 'INFO')))
          if (!infos.every(i => i.includes('cluster_state:ok'))) return false
          if (key === undefined) return true
          const owners = await Promise.all(running.map(async n => {
            const slot = Number(await cli(n.port, 'CLUSTER', 'KEYSLOT', key))
            const shards = await api.node(n.port).call('CLUSTER', 'SLOTS') as Array<[number, number, [string, number]]>
            return shards.find(([from, to]) => slot >= from && slot <= to)?.[2][1]
          }))
          if (!owners.every(o => o !== undefined && o === owners[0] && running.some(n => n.port === Number(o)))) return false
          // and that primary has a replica in sync (a restarted node needs a full sync first)
          return /slave\d+:.*state=online/.test(await cli(Number(owners[0]), 'INFO', 'replication'))
        } catch {
          return false
        }
      }, 30_000, 100)
    },
    close: async () => {
      for (const c of conns.values()) c.disconnect()
      conns.clear()
      await Promise.all(nodes.map(async n => await api.kill(n.port)))
      await rm(dir, { recursive: true, force: true })
    }
  }

  try {
    await Promise.all(nodes.map(startNode))
    await run('redis-cli', ['--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 })
    await api.settled()
    // every replica in sync with its primary, so that a failover can promote it at once
    await until(async () => {
      const roles = await Promise.all(ports.map(async p => await cli(p, 'INFO', 'replication')))
      const replicas = roles.filter(r => r.includes('role:slave'))
      return replicas.length === 3 && replicas.every(r => r.includes('master_link_status:up'))
    }, 20_000, 100)
  } catch (err) {
    await api.close()
    throw err
  }
  return api
}
