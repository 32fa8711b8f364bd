/**
 * The client address comes from the network, not from the client (SPEC §2 TRUST_PROXY): with
 * a rotating X-Forwarded-For, the per-IP REST limit and the per-IP connection limit still count
 * one client, whatever TRUST_PROXY says; only valid IP addresses reach a Redis key.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { startApp, http } from '../helpers/app.js'
import { connect } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { createClientAddress } from '../../src/net/client-address.js'
import { parseConfig } from '../../src/config.js'

const redis = await startRedis()
t.teardown(redis.close)
const admin = new Redis(redis.url)
t.teardown(() => { admin.disconnect() })

const REST_MAX = 5
const CONN_MAX = 3
const TRIES = 12

/** What an attacker behind nginx (which appends the real peer) can rotate: the left part. */
const rotations: Record<string, (i: number) => string> = {
  'rotating left-most entry': (i) => `10.0.${i}.1`,
  'rotating entry before a real one': (i) => `10.0.${i}.1, 203.0.113.9`,
  'non-IP entries (4 KB)': (i) => `${'x'.repeat(4000)}${i}, not-an-ip`
}

for (const trust of [undefined, 'loopback', 'true'] as const) {
  for (const [name, xff] of Object.entries(rotations)) {
    // behind a trusted proxy that appends, a client cannot write the right-most entry itself
    if (trust !== undefined && name === 'rotating left-most entry') continue
    t.test(`TRUST_PROXY=${trust ?? '(unset)'}, ${name}`, async (t) => {
      const prefix = uniquePrefix('trust-proxy')
      const { url } = await startApp(t, {
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        RATE_LIMIT_HTTP_MAX: String(REST_MAX),
        RATE_LIMIT_CONNECTIONS_PER_10S: String(CONN_MAX),
        ...(trust !== undefined && { TRUST_PROXY: trust })
      })
      // `true` trusts every hop: the left-most (client-written) entry is the address, as in Fastify
      const rotates = trust === 'true' && !name.startsWith('non-IP')
      let rest = 0
      for (let i = 0; i < TRIES; i++) {
        const r = await http(`${url}/v1/presence/bob`, { headers: { 'x-forwarded-for': xff(i) } })
        if (r.status !== 429) rest++
      }
      let conns = 0
      for (let i = 0; i < TRIES; i++) {
        const ok = await connect(url, token({ sub: `u${i}` }), { extraHeaders: { 'x-forwarded-for': xff(i) } }).then(() => true, () => false)
        if (ok) conns++
      }
      t.comment(`anonymous REST requests through (limit ${REST_MAX}): ${rest}/${TRIES}; handshakes through (limit ${CONN_MAX}): ${conns}/${TRIES}`)
      if (rotates) {
        t.equal(rest, TRIES, 'TRUST_PROXY=true trusts the client-written entry (documented)')
      } else {
        t.equal(rest, REST_MAX, 'REST: one client, one budget')
        t.equal(conns, CONN_MAX, 'handshakes: one client, one budget')
      }
      const keys = await admin.keys(`${prefix}*`)
      t.ok(keys.length > 0)
      t.ok(keys.every(k => k.length < prefix.length + 120), 'no header value became a Redis key')
      t.notOk(keys.some(k => k.includes('xxxx') || k.includes('not-an-ip')), 'no non-IP entry in a key')
    })
  }
}

t.test('the client-address rule', async (t) => {
  const none = createClientAddress(false)
  t.equal(none('127.0.0.1', '1.2.3.4'), '127.0.0.1', 'unset: the TCP peer, XFF ignored')
  t.equal(none('::ffff:127.0.0.1', undefined), '127.0.0.1', 'IPv4-mapped')
  const lo = createClientAddress(['loopback'])
  t.equal(lo('127.0.0.1', '1.1.1.1, 2.2.2.2'), '2.2.2.2', 'right-most untrusted')
  t.equal(lo('127.0.0.1', '1.1.1.1, 127.0.0.2'), '1.1.1.1', 'trusted hops are walked')
  t.equal(lo('127.0.0.1', '1.1.1.1, garbage'), '1.1.1.1', 'non-IP entries are skipped')
  t.equal(lo('127.0.0.1', 'garbage'), '127.0.0.1', 'none left: the TCP peer')
  t.equal(lo('192.0.2.1', '1.1.1.1'), '192.0.2.1', 'an untrusted peer is the client')
  const hops = createClientAddress(1)
  t.equal(hops('10.0.0.1', '1.1.1.1, 2.2.2.2'), '2.2.2.2', 'a hop count of 1 trusts the peer only')
  t.equal(createClientAddress(['10.0.0.0/8'])('10.1.2.3', '9.9.9.9, 10.0.0.7'), '9.9.9.9', 'CIDR list')
  t.equal(createClientAddress(true)('127.0.0.1', 'x, 1.1.1.1, 2.2.2.2'), '1.1.1.1', 'true: the left-most IP entry')
  t.same(parseConfig({ TRUST_PROXY: '10.0.0.0/8, loopback' }).trustProxy, ['10.0.0.0/8', 'loopback'])
  t.equal(parseConfig({ TRUST_PROXY: '2' }).trustProxy, 2)
  t.equal(parseConfig({}).trustProxy, false)
  t.throws(() => parseConfig({ TRUST_PROXY: 'proxy.example.com' }), /TRUST_PROXY/)
})
