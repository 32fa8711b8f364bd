/**
 * The shipped deploy/nginx.conf, run by the real nginx in front of three real instances on one
 * Redis (issue 14): long-polling needs the sticky upstream (shown with a non-sticky render),
 * 60 clients (websocket and long-polling; half of them the shipped client) ride a rolling restart of every instance without one
 * giving up or missing an acked message, and TRUST_PROXY as shipped makes per-IP limits see the
 * client behind nginx. `npm run test:deploy` (`.ci/run` runs it after `npm test`).
 */
import t from 'tap'
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer, type ServerProc } from '../helpers/proc.js'
import { token } from '../helpers/tokens.js'
import { sleep, until } from '../helpers/net.js'
import { startNginx, nginxBinary, type Nginx } from './nginx.js'
import { startClient, startLibClient, startSender, percentile, cmpId, type LoopClient, type Msg } from './clients.js'

if (nginxBinary() === undefined) throw new Error('nginx is not installed: .ci/run installs it (apt-get install -y nginx-light)')

// the instances run with the compose file's settings (as shipped), on loopback
const compose = parse(readFileSync(new URL('../../deploy/docker-compose.yml', import.meta.url), 'utf8'), { merge: true })
const shipped = compose.services['switchboard-1'].environment as Record<string, string>
const defaultOf = (v: string): string => /\$\{[A-Z_]+:-([^}]*)\}/.exec(v)?.[1] ?? v
const GRACE = Number(shipped.SHUTDOWN_GRACE_MS)
// TRUST_PROXY as shipped trusts the network nginx reaches the instances from (compose:
// `uniquelocal`, the private ranges) and not the clients'. Rendered for loopback like the
// upstream lines: nginx connects from 127.0.0.1, the clients from 127.0.N.1 (N >= 10).
const shippedTrust = defaultOf(shipped.TRUST_PROXY)
const TRUST_PROXY = shippedTrust === 'uniquelocal' ? '127.0.0.1' : shippedTrust
const ADAPTER = defaultOf(shipped.ADAPTER)

const redis = await startRedis()
t.teardown(redis.close)
const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('nginx'), ADAPTER, SHUTDOWN_GRACE_MS: String(GRACE), TRUST_PROXY, LOG_LEVEL: 'warn' }
const servers: ServerProc[] = await Promise.all([0, 1, 2].map(async () => await spawnServer(t, env)))
const ports = servers.map(s => s.port)
const nginx = await startNginx(ports)
t.teardown(nginx.stop)

/** One HTTP request from a chosen loopback source address (what a distinct client looks like). */
async function httpFrom (from: string, url: string, opts: { method?: string, body?: string, headers?: Record<string, string> } = {}): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', localAddress: from, headers: opts.headers, timeout: 5000 }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end(opts.body)
  })
}

/** An Engine.IO long-polling session by hand: handshake, then `n` POSTs of a noop packet. */
async function pollingSession (ng: Nginx, n: number): Promise<Array<{ status: number, body: string }>> {
  const hs = await httpFrom('127.0.0.1', `${ng.url}/socket.io/?EIO=4&transport=polling`)
  const sid = JSON.parse(hs.body.slice(1)).sid as string // "0{...}"
  const out = []
  for (let i = 0; i < n; i++) {
    out.push(await httpFrom('127.0.0.1', `${ng.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '6', headers: { 'content-type': 'text/plain' } }))
  }
  return out
}

t.test('long-polling works only with the sticky upstream', async (t) => {
  const sticky = await pollingSession(nginx, 6)
  t.same(sticky.map(r => r.status), [200, 200, 200, 200, 200, 200], 'ip_hash: every request of the session reaches its instance')
  const plain = await startNginx(ports, { sticky: false })
  t.teardown(plain.stop)
  const spread = await pollingSession(plain, 6)
  const lost = spread.filter(r => r.status === 400 && /Session ID unknown/.test(r.body))
  t.ok(lost.length > 0, `without ip_hash requests reach other instances: ${lost.length}/6 answered 400 "Session ID unknown"`)
})

t.test(`TRUST_PROXY=${shippedTrust} as shipped (${TRUST_PROXY} on loopback): per-IP limits see the client behind nginx, and a forged X-Forwarded-For changes nothing`, async (t) => {
  // anonymous REST requests are limited per client IP (SPEC §7): RATE_LIMIT_HTTP_MAX per window
  const max = Number(defaultOf(shipped.RATE_LIMIT_HTTP_MAX))
  const url = `${nginx.url}/v1/no-such-route`
  const A = '127.0.200.1'
  const B = '127.0.201.1'
  const statuses: number[] = []
  for (let i = 0; i < max; i++) statuses.push((await httpFrom(A, url)).status)
  t.ok(statuses.every(s => s === 404), `client A: ${max} requests pass`)
  t.equal((await httpFrom(A, url)).status, 429, `client A: request ${max + 1} is limited`)
  t.equal((await httpFrom(B, url)).status, 404, 'client B is not limited: the limit is per client, not per nginx')
  t.equal((await httpFrom(A, url, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 429, 'client A forging another address is still limited')
  t.equal((await httpFrom(B, url, { headers: { 'x-forwarded-for': A } })).status, 404, 'client B forging A\'s address is not limited as A')
})

t.test('60 clients through nginx ride a rolling restart of every instance', async (t) => {
  const ROOMS = 6
  const service = token({ sub: 'ops', role: 'service' })
  // seed every room, so each client starts from a known position
  const seeds = new Map<string, string>()
  for (let r = 0; r < ROOMS; r++) {
    const roomId = `deploy-${r}`
    const res = await fetch(`${nginx.url}/v1/rooms/${roomId}/messages`, { method: 'POST', headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'seed' }) })
    t.equal(res.status, 201)
    seeds.set(roomId, ((await res.json()) as { message: Msg }).message.id)
  }
  // clients 0, 1 (mod 4): socket.io-client with the docs' loop by hand; 2, 3: the shipped client
  const isLib = (i: number): boolean => i % 4 >= 2
  const clients: LoopClient[] = await Promise.all(Array.from({ length: 60 }, async (_, i) => {
    const roomId = `deploy-${i % ROOMS}`
    return await (isLib(i) ? startLibClient : startClient)(nginx.url, {
      name: `c${i}`,
      roomId,
      token: token({ sub: `user-${i}` }),
      transports: i % 2 === 0 ? ['websocket'] : ['polling'],
      since: seeds.get(roomId),
      localAddress: `127.0.${10 + i}.1`
    })
  }))
  t.teardown(() => { for (const c of clients) { if (c.lib !== undefined) c.lib.close(); else c.socket.close() } })
  const perInstance = await Promise.all(servers.map(async s => await connections(s)))
  t.ok(perInstance.every(n => n > 0), `ip_hash spreads the clients over the three instances (${perInstance.join(' / ')})`)

  const ledger: Msg[] = []
  const t0 = Date.now()
  const senders = clients.map(c => startSender(c, ledger, 1500))
  await sleep(2000)
  const exits: Array<{ code: number | string, ms: number }> = []
  for (let i = 0; i < servers.length; i++) {
    const at = Date.now()
    t.comment(`SIGTERM instance ${i + 1} at +${at - t0}ms`)
    servers[i].proc.kill('SIGTERM')
    const code = await servers[i].exited
    const ms = Date.now() - at
    exits.push({ code, ms })
    t.equal(code, 0, `instance ${i + 1} exits 0 after SIGTERM`)
    t.ok(ms < GRACE, `instance ${i + 1} drained within SHUTDOWN_GRACE_MS (${ms} ms < ${GRACE} ms)`)
    t.notMatch(servers[i].output(), /"level":(50|60)/, `instance ${i + 1} logged no error`)
    servers[i] = await spawnServer(t, env, { port: ports[i] })
    await sleep(1500)
  }
  await sleep(2000)
  await Promise.all(senders.map(async s => await s.stop()))

  // every client back, caught up with every acked message of its room
  const missing = (): number => clients.reduce((n, c) => n + ledger.filter(m => m.roomId === c.roomId && !c.seen.has(m.id)).length, 0)
  await until(() => clients.every(c => c.socket.connected && !c.joining) && missing() === 0, 30_000, 100).catch(() => {})
  t.comment(`state: ${clients.filter(c => !c.socket.connected || c.gaveUp.length > 0).map(c => `${c.name} connected=${String(c.socket.connected)} active=${String(c.socket.active)} ${c.gaveUp.join(',')} ${c.errors.slice(-3).join(',')}`).join('; ')}`)
  const gaveUp = clients.filter(c => c.gaveUp.length > 0 || !c.socket.active)
  t.same(gaveUp.map(c => `${c.name}: ${c.gaveUp.join(', ')}`), [], 'no client gave up')
  t.equal(clients.filter(c => c.socket.connected).length, clients.length, 'every client is connected')
  const pairs = clients.flatMap(c => ledger.filter(m => m.roomId === c.roomId && !c.seen.has(m.id)).map(m => ({ c, m })))
  for (const { c, m } of pairs.slice(0, 5)) {
    t.comment(`missing: ${c.name} (${c.transport}) lacks ${m.id} from ${m.clientMsgId ?? ''} acked at +${(m.ackedAt ?? 0) - t0}ms; its reconnects: ${c.history.map(h => `down +${h.downAt - t0} up +${h.upAt - t0} ${h.recovered ? 'recovered' : 'rejoined'}`).join('; ')}`)
  }
  // No exception for a session restored by connection state recovery: the race once reported
  // here as a todo (a message broadcast while the restored socket's handshake middlewares ran
  // was neither replayed nor delivered) is fixed in src/realtime/sessions.ts (deliverToRestoring)
  // and held open on purpose by test/delivery/restore-window.test.ts.
  t.equal(pairs.length, 0, 'every acked message is in every member\'s view (missing pairs)')
  t.equal(senders.reduce((n, s) => n + s.failed(), 0), 0, 'every send was acked, possibly after retries')
  t.equal(clients.reduce((n, c) => n + c.duplicates, 0), 0, 'the shipped client delivered each id once')

  // history: each clientMsgId once; every acked id present
  for (let r = 0; r < ROOMS; r++) {
    const roomId = `deploy-${r}`
    const all: Msg[] = []
    for (let after = seeds.get(roomId); ;) {
      const res = await fetch(`${nginx.url}/v1/rooms/${roomId}/messages?limit=100&after=${after as string}`, { headers: { authorization: `Bearer ${service}` } })
      const page = await res.json() as { messages: Msg[], hasMore: boolean }
      all.push(...page.messages)
      if (!page.hasMore || page.messages.length === 0) break
      after = page.messages[page.messages.length - 1].id
    }
    const ids = all.map(m => m.clientMsgId)
    t.equal(new Set(ids).size, ids.length, `${roomId}: no clientMsgId twice in history (${ids.length} messages)`)
    const stored = new Set(all.map(m => m.id))
    t.ok(ledger.filter(m => m.roomId === roomId).every(m => stored.has(m.id)), `${roomId}: every acked message is in history`)
    t.ok(all.every((m, i) => i === 0 || cmpId(all[i - 1].id, m.id) < 0), `${roomId}: ids strictly increase`)
  }
  t.notMatch(nginx.errorLog(), /\[(emerg|crit|alert)\]/, 'nginx error log has no emerg/crit/alert')

  const reconnects = clients.flatMap(c => c.reconnectMs)
  const figures = {
    clients: clients.length,
    websocket: clients.filter((_, i) => i % 2 === 0).length,
    polling: clients.filter((_, i) => i % 2 === 1).length,
    shippedClient: clients.filter(c => c.lib !== undefined).length,
    messagesAcked: ledger.length,
    deliveriesChecked: clients.reduce((n, c) => n + ledger.filter(m => m.roomId === c.roomId).length, 0),
    reconnects: reconnects.length,
    recovered: clients.reduce((n, c) => n + c.history.filter(h => h.recovered).length, 0),
    maxCatchUp: Math.max(...clients.flatMap(c => c.catchUps)),
    reconnectP50Ms: percentile(reconnects, 50),
    reconnectP99Ms: percentile(reconnects, 99),
    // p50/p99 by kind: the shipped client backs off by itself after a refusal (a draining instance's 503)
    reconnectMsByKind: Object.fromEntries(['docs loop', 'shipped client'].map((k, i) => {
      const xs = clients.filter(c => (c.lib !== undefined) === (i === 1)).flatMap(c => c.reconnectMs)
      return [k, [percentile(xs, 50), percentile(xs, 99)]]
    })),
    drainExitMs: exits.map(e => e.ms)
  }
  t.comment(`figures ${JSON.stringify(figures)}`)
  t.same(clients.filter(c => c.reconnectMs.length === 0).map(c => c.name), [], 'every client was moved at least once by the restarts')
})

async function connections (s: ServerProc): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text()
  return [...text.matchAll(/^switchboard_socket_connections(?:\{[^}]*\})? (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
}
