/**
 * Token times on Redis' clock (SPEC §8: what every instance must judge alike uses Redis' clock;
 * issue #17 scenario 8). Real server processes whose own wall clock is 5 minutes ahead or behind
 * (test/helpers/clock-skew.mjs, preloaded), on one real Redis whose clock is this host's. A token
 * valid by Redis' clock is accepted on REST, the handshake and `auth:refresh`, and one expired
 * by Redis' clock is `token_expired` on all three; `auth:expiring` comes 60 s before `exp` by
 * Redis' clock. Before, the instance ahead refused valid tokens (`token_expired`) and the one
 * behind refused fresh ones (`iat` "in the future") and accepted expired ones. The online-users
 * gauge, counted against a ZSET scored on Redis' clock, is checked on the same instances.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer, skewedClock } from '../helpers/proc.js'
import { connect, ack, next } from '../helpers/socket.js'
import { token } from '../helpers/tokens.js'
import { metric } from '../metrics/scrape.js'
import { until } from '../helpers/net.js'

const SKEW_MS = 5 * 60_000
const nowS = (): number => Math.floor(Date.now() / 1000)

t.test('the preload shifts a process\'s wall clock', async (t) => {
  for (const offset of [SKEW_MS, -SKEW_MS]) {
    const before = Date.now()
    const theirs = Number(execFileSync(process.execPath, ['-e', 'console.log(Date.now(), new Date().getTime())'], {
      env: { PATH: process.env.PATH, ...skewedClock(offset) }
    }).toString().trim().split(' ')[0])
    const diff = theirs - before
    t.ok(Math.abs(diff - offset) < 5000, `the child's clock is ${offset} ms off (measured ${diff} ms)`)
  }
})

t.test('token times are judged on Redis\' clock, whatever the instance\'s own', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const prefix = uniquePrefix('clock')

  for (const offset of [SKEW_MS, -SKEW_MS]) {
    const which = offset > 0 ? '5 minutes ahead' : '5 minutes behind'
    await t.test(`an instance ${which}`, async (t) => {
      const server = await spawnServer(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, ...skewedClock(offset) })
      const url = server.url
      // valid for 2 more minutes by Redis' clock (iat now); expired a minute ago
      const valid = (): string => token({ sub: 'alice', iat: nowS(), exp: nowS() + 120 })
      const expired = (): string => token({ sub: 'alice', iat: nowS() - 180, exp: nowS() - 60 })

      const rest = async (tok: string): Promise<{ status: number, body: any }> => {
        const res = await fetch(`${url}/v1/presence/alice`, { headers: { authorization: `Bearer ${tok}` }, signal: AbortSignal.timeout(5000) })
        return { status: res.status, body: await res.json() }
      }
      t.equal((await rest(valid())).status, 200, 'REST: a valid token is accepted')
      t.match(await rest(expired()), { status: 401, body: { code: 'token_expired' } }, 'REST: an expired token is token_expired')
      t.equal((await rest(token({ sub: 'alice', iat: nowS() - 10, nbf: nowS() - 5, exp: nowS() + 120 }))).status, 200, 'REST: nbf passed by Redis\' clock is accepted')
      t.match(await rest(token({ sub: 'alice', iat: nowS(), nbf: nowS() + 60, exp: nowS() + 120 })), { status: 401, body: { code: 'unauthorized', message: 'token not yet valid' } }, 'REST: nbf ahead by Redis\' clock is unauthorized')

      const s = await connect(url, valid())
      t.ok(s.connected, 'handshake: a valid token is accepted')
      // the same kind outside tokens: the online-users ZSET is scored on Redis' clock
      const counted = await until(async () => await metric(url, 'switchboard_presence_online_users') === 1, 5000).then(() => true, () => false)
      t.ok(counted, `online users counted on Redis' clock (${await metric(url, 'switchboard_presence_online_users')})`)
      const refused = await connect(url, expired()).then(() => undefined, (e: Error) => e)
      t.equal(refused?.message, 'token_expired', 'handshake: an expired token is token_expired')

      const exp = nowS() + 600
      t.same(await ack(s, 'auth:refresh', { token: token({ sub: 'alice', iat: nowS(), exp }) }), { ok: true, expiresAt: exp * 1000 }, 'auth:refresh: a valid token is accepted')
      t.match(await ack(s, 'auth:refresh', { token: expired() }), { ok: false, error: { code: 'token_expired' } }, 'auth:refresh: an expired token is token_expired')
      s.close()

      // auth:expiring 60 s before exp by Redis' clock: here 3-4 s after connecting (the instance
      // ahead would warn at once, the one behind 5 minutes late)
      const soon = nowS() + 64
      let warned: Promise<{ at: number, expiresAt: number }> | undefined
      const connectedAt = Date.now()
      const w = await connect(url, token({ sub: 'alice', iat: nowS(), exp: soon }), {
        onCreate: (c) => { warned = next<{ expiresAt: number }>(c, 'auth:expiring', 10_000).then(e => ({ at: Date.now(), expiresAt: e.expiresAt })) }
      })
      const warning = await warned!
      t.equal(warning.expiresAt, soon * 1000)
      const after = warning.at - connectedAt
      const due = (soon - 60) * 1000 - connectedAt
      t.ok(after >= due - 1000 && after <= due + 3000, `auth:expiring ${after} ms after connecting, due at ${due} ms by Redis' clock`)
      w.close()
    })
  }
})
