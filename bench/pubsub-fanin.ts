/**
 * Pub/sub fan-in per instance (docs/scaling.md "Measured"): 1,000 small rooms split over two
 * instances (rooms 0–499 have their members on instance A only, 500–999 on B only); one
 * `typing` event and one `message:send` per room. Counts the pub/sub messages each instance's
 * Redis subscriber connections receive, for the classic adapter on one Redis (ADAPTER=redis)
 * and the sharded adapter on a Redis Cluster (REDIS_CLUSTER_NODES, `dynamic` subscriptions).
 * `typing` travels through the Socket.IO adapter; `message:new` through the history relay
 * (sharded on a Cluster: SPUBLISH per room, each instance subscribed to its rooms only).
 *
 *   node --import=tsx bench/pubsub-fanin.ts
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { io as ioc, type Socket } from 'socket.io-client'
import { parseConfig } from '../src/config.js'
import { serverOptions } from '../src/build.js'
import appPlugin from '../src/app.js'
import { startRedis, uniquePrefix } from '../test/helpers/redis.js'
import { startCluster } from '../test/helpers/redis-cluster.js'
import { token, TEST_SECRET } from '../test/helpers/tokens.js'
import { sleep } from '../test/helpers/net.js'
import { LIMITS_OFF } from '../test/delivery/lib.js'

const ROOMS = 1000

interface Counts { adapter: number, relay: number, other: number }

async function instance (env: Record<string, string>): Promise<{ app: FastifyInstance, url: string, counts: Counts }> {
  const config = parseConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET: TEST_SECRET,
    MAX_ROOMS_PER_SOCKET: String(ROOMS),
    ...LIMITS_OFF,
    ...env
  })
  // as src/build.ts builds it, keeping the app plugin's own context (where `redis` is decorated)
  const app = Fastify(serverOptions(config))
  let inner: FastifyInstance | undefined
  app.addHook('onRegister', (instance) => { inner ??= instance })
  await app.register(appPlugin, { config })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  const counts: Counts = { adapter: 0, relay: 0, other: 0 }
  const redis = inner?.redis ?? null
  if (redis === null) throw new Error('needs Redis')
  for (const event of ['messageBuffer', 'pmessageBuffer', 'smessageBuffer']) redis.adapterSub.on(event, () => { counts.adapter++ })
  // the relay's publications: every message the store receives from pub/sub reaches its
  // listeners once (one Redis: the `<prefix>messages` channel; a Cluster: the rooms' shard
  // channels, on the store's own connections); `subscriber` also carries presence edges
  inner?.messages.store.onMessage(() => { counts.relay++ })
  redis.subscriber.on('message', (channel: string) => { if (!channel.endsWith('messages')) counts.other++ })
  return { app, url: `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`, counts }
}

async function socket (url: string, sub: string): Promise<Socket> {
  const s = ioc(url, { transports: ['websocket'], auth: { token: token({ sub }) }, forceNew: true, reconnection: false })
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject) })
  return s
}

async function scenario (label: string, env: Record<string, string>): Promise<string> {
  const prefix = uniquePrefix('fanin')
  const a = await instance({ ...env, REDIS_KEY_PREFIX: prefix })
  const b = await instance({ ...env, REDIS_KEY_PREFIX: prefix })
  const half = ROOMS / 2
  const senders = [await socket(a.url, 'sender-a'), await socket(b.url, 'sender-b')]
  const members = [await socket(a.url, 'member-a'), await socket(b.url, 'member-b')]
  for (let r = 0; r < ROOMS; r++) {
    const i = r < half ? 0 : 1
    await senders[i].timeout(5000).emitWithAck('room:join', { roomId: `room-${r}` })
    await members[i].timeout(5000).emitWithAck('room:join', { roomId: `room-${r}` })
  }
  await sleep(500)
  a.counts.adapter = a.counts.relay = a.counts.other = b.counts.adapter = b.counts.relay = b.counts.other = 0
  let typed = 0
  let delivered = 0
  for (const m of members) m.on('typing', () => { typed++ })
  for (const m of members) m.on('message:new', () => { delivered++ })
  for (let r = 0; r < ROOMS; r++) {
    const s = senders[r < half ? 0 : 1]
    await s.timeout(5000).emitWithAck('typing', { roomId: `room-${r}`, isTyping: true })
    await s.timeout(5000).emitWithAck('message:send', { roomId: `room-${r}`, text: 'x' })
  }
  await sleep(1000)
  for (const s of [...senders, ...members]) s.close()
  await a.app.close()
  await b.app.close()
  return `${label}: typing delivered ${typed}/${ROOMS}, messages delivered ${delivered}/${ROOMS}; ` +
    `pub/sub messages received — instance A: adapter ${a.counts.adapter}, relay ${a.counts.relay} (+${a.counts.other} presence); ` +
    `instance B: adapter ${b.counts.adapter}, relay ${b.counts.relay} (+${b.counts.other} presence)`
}

const redis = await startRedis({ own: true })
const cluster = await startCluster()
try {
  console.log(await scenario('classic adapter, one Redis (ADAPTER=redis)', { REDIS_URL: redis.url, ADAPTER: 'redis' }))
  console.log(await scenario('sharded adapter, one Redis (ADAPTER=redis-sharded)', { REDIS_URL: redis.url, ADAPTER: 'redis-sharded' }))
  console.log(await scenario('sharded adapter, Redis Cluster (REDIS_CLUSTER_NODES)', { REDIS_CLUSTER_NODES: cluster.nodesEnv }))
} finally {
  await redis.close()
  await cluster.close()
}
