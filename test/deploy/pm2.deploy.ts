/**
 * deploy/pm2/ecosystem.config.cjs run by the real PM2 (npm devDependency) with a private
 * PM2_HOME: one worker per core in cluster mode on one Redis, WebSocket clients (half of them
 * the shipped client, switchboard/client) spread over the workers see each other's messages
 * (through Redis), and `pm2 reload` replaces and drains the workers one by one without a client
 * giving up or missing an acked message. Long-polling is refused cleanly (the file is
 * WebSocket-only: Node's cluster master is not sticky).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { token, TEST_SECRET } from '../helpers/tokens.js'
import { connect, ack } from '../helpers/socket.js'
import { freePort, sleep, until } from '../helpers/net.js'
import { startClient, startLibClient, startSender, percentile, type LoopClient, type Msg } from './clients.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PM2 = join(ROOT, 'node_modules/pm2/bin/pm2')
const ECOSYSTEM = join(ROOT, 'deploy/pm2/ecosystem.config.cjs')

// tap's process tracking puts its loaders into every child's NODE_OPTIONS; the build and PM2
// (whose daemon and workers inherit the CLI's environment) must run without them
const clean = (cmd: string, args: string[]): [string, string[]] => ['env', ['-u', 'NODE_OPTIONS', cmd, ...args]]

// the ecosystem runs the compiled entry point, as in production
await run(...clean('npm', ['run', 'build']), { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME } })

const redis = await startRedis()
t.teardown(redis.close)

const home = mkdtempSync(join(tmpdir(), 'sb-pm2-'))
const port = await freePort()
const env = {
  PATH: process.env.PATH,
  HOME: home,
  PM2_HOME: home,
  REDIS_URL: redis.url,
  REDIS_KEY_PREFIX: uniquePrefix('pm2'),
  JWT_SECRET: TEST_SECRET,
  HOST: '127.0.0.1',
  PORT: String(port),
  LOG_LEVEL: 'warn'
}
const pm2 = async (...args: string[]): Promise<string> => (await run(...clean(process.execPath, [PM2, ...args]), { cwd: ROOT, env, timeout: 120_000 })).stdout
t.teardown(async () => {
  await pm2('kill').catch(() => {})
  rmSync(home, { recursive: true, force: true })
})

interface Worker { pid: number, status: string }
const workers = async (): Promise<Worker[]> => (JSON.parse(await pm2('jlist')) as Array<{ pid: number, pm2_env: { status: string } }>).map(p => ({ pid: p.pid, status: p.pm2_env.status }))
const url = `http://127.0.0.1:${port}`

await pm2('start', ECOSYSTEM)
await until(async () => await fetch(`${url}/health/ready`).then(r => r.status === 200, () => false), 60_000, 200)

t.test('PM2 cluster: workers share one Redis, pm2 reload drains them one by one', async (t) => {
  const before = await workers()
  t.ok(before.length >= 2, `one worker per core: ${before.length} workers`)
  t.ok(before.every(w => w.status === 'online'), 'every worker is online')

  const polling = await fetch(`${url}/socket.io/?EIO=4&transport=polling`)
  t.equal(polling.status, 400, 'long-polling is refused at once (TRANSPORTS=websocket), never half-working')

  const service = token({ sub: 'ops', role: 'service' })
  const seed = await fetch(`${url}/v1/rooms/pm2-room/messages`, { method: 'POST', headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'seed' }) })
  const since = ((await seed.json()) as { message: Msg }).message.id
  const clients: LoopClient[] = []
  for (let i = 0; i < 20; i++) {
    // odd ones: the shipped client (switchboard/client); even ones: socket.io-client with the docs' loop
    clients.push(await (i % 2 === 1 ? startLibClient : startClient)(url, { name: `p${i}`, roomId: 'pm2-room', token: token({ sub: `pm2-user-${i}` }), transports: ['websocket'], since }))
  }
  t.teardown(() => { for (const c of clients) { if (c.lib !== undefined) c.lib.close(); else c.socket.close() } })
  // stats:get reads the workers' heartbeat entries (refreshed every PRESENCE_TTL_MS / 3)
  const admin = await connect(url, token({ sub: 'admin', role: 'admin' }), { namespace: '/admin' })
  let counts: number[] = []
  await until(async () => {
    const stats = await ack(admin, 'stats:get', {})
    counts = stats.instances.map((i: { connections: number }) => i.connections)
    return counts.filter(n => n > 0).length >= 2
  }, 20_000, 500).catch(() => {})
  admin.close()
  t.ok(counts.filter(n => n > 0).length >= 2, `the clients are spread over the workers (${counts.join(' / ')})`)

  const ledger: Msg[] = []
  const senders = clients.map(c => startSender(c, ledger, 1000))
  await sleep(2000)
  const t0 = Date.now()
  await pm2('reload', 'switchboard')
  const reloadMs = Date.now() - t0
  await sleep(3000)
  await Promise.all(senders.map(async s => await s.stop()))

  const after = await workers()
  t.equal(after.length, before.length, 'as many workers after the reload')
  t.ok(after.every(w => w.status === 'online' && !before.some(b => b.pid === w.pid)), 'every worker was replaced')
  const missing = (): number => clients.reduce((n, c) => n + ledger.filter(m => !c.seen.has(m.id)).length, 0)
  await until(() => clients.every(c => c.socket.connected && !c.joining) && missing() === 0, 30_000, 100).catch(() => {})
  t.same(clients.filter(c => c.gaveUp.length > 0 || !c.socket.active).map(c => `${c.name}: ${c.gaveUp.join(', ')}`), [], 'no client gave up')
  t.equal(clients.filter(c => c.socket.connected).length, clients.length, 'every client is connected')
  t.ok(ledger.length > 0, 'messages were sent during the reload')
  t.equal(missing(), 0, 'every acked message reached every client, across workers (missing pairs)')
  t.equal(senders.reduce((n, s) => n + s.failed(), 0), 0, 'every send was acked')
  t.equal(clients.reduce((n, c) => n + c.duplicates, 0), 0, 'the shipped client delivered each id once')
  const reconnects = clients.flatMap(c => c.reconnectMs)
  t.same(clients.filter(c => c.reconnectMs.length === 0).map(c => c.name), [], 'every client was moved by the reload')
  t.comment(`figures ${JSON.stringify({ workers: before.length, clients: clients.length, messagesAcked: ledger.length, reconnects: reconnects.length, maxCatchUp: Math.max(...clients.flatMap(c => c.catchUps)), reconnectP50Ms: percentile(reconnects, 50), reconnectP99Ms: percentile(reconnects, 99), reloadMs })}`)
})
