/**
 * Every Lua script, every composed variant, compiles in Redis (SCRIPT LOAD), including the
 * variants no other test runs; and each append variant's arguments match its KEYS and ARGV.
 */
import t from 'tap'
import { appendVariant, type AppendFeatures } from '../../src/stores/redis/lua/append.js'
import { ARCHIVE_COMMIT, ARCHIVE_READ } from '../../src/stores/redis/lua/archive.js'
import { SINCE, SPAN } from '../../src/stores/redis/lua/history-reads.js'
import { INSTANCE_SCRIPTS } from '../../src/stores/redis/lua/instances.js'
import { PRESENCE_SCRIPTS } from '../../src/stores/redis/lua/presence.js'
import { HIT, TAKE } from '../../src/stores/redis/lua/rate-limit.js'
import { MARK } from '../../src/stores/redis/lua/receipts.js'
import type { Script } from '../../src/stores/redis/lua/script.js'
import { NOW_MS, PAST } from '../../src/stores/redis/lua/clock.js'
import { redisClient, startRedis } from '../helpers/redis.js'

const redis = await startRedis()
t.teardown(redis.close)

const variants: AppendFeatures[] = []
for (const once of [false, true]) {
  for (const limited of [false, true]) {
    for (const adapter of [false, true]) {
      for (const archive of [false, true]) variants.push({ once, limited, adapter, archive })
    }
  }
}

t.test('every script and append variant compiles', async (t) => {
  const client = redisClient(t, redis.url)
  const scripts: Script[] = [
    TAKE, HIT, MARK, SINCE, SPAN, ARCHIVE_READ, ARCHIVE_COMMIT, ...PRESENCE_SCRIPTS, ...INSTANCE_SCRIPTS,
    ...variants.map(f => appendVariant(f).script)
  ]
  t.equal(new Set(scripts.map(s => s.name)).size, scripts.length, 'command names are distinct')
  for (const s of scripts) {
    const sha = await client.script('LOAD', s.lua)
    t.match(sha, /^[0-9a-f]{40}$/, `${s.name} compiles`)
    t.match(s.lua, /^local \w+ = KEYS\[1\] -- /, `${s.name} opens with its named KEYS`)
  }
})

t.test('an append variant takes exactly its keys, then its arguments', async (t) => {
  const all = {
    stream: 's',
    meta: 'm',
    idem_key: 'i',
    bucket: 'b',
    adapter_stream: 'a',
    dirty_rooms: 'd',
    body: '{}',
    trim_mode: '=',
    max_len: 1,
    publish: 'PUBLISH',
    channel: 'c',
    deadline: '0',
    idem_ttl: 1,
    burst: 1,
    per_second: 1,
    envelope_head: 'h',
    envelope_tail: 't',
    adapter_max_len: 1,
    floor: '',
    room_id: 'r'
  }
  for (const f of variants) {
    const v = appendVariant(f)
    const args = v.args(all)
    const argv = (v.script.lua.match(/^local \w+ = ARGV\[\d+\]/gm) ?? []).length
    t.equal(args.length, v.script.numberOfKeys + argv, `${v.script.name}: ${v.script.numberOfKeys} keys + ${argv} arguments`)
  }
  t.throws(() => appendVariant(variants[15]).args({ stream: 's' }), /no value for the script argument/, 'a missing value throws')
})

t.test('past(deadline) is now_ms() > deadline, also where it compares strings (lua/clock.ts)', async (t) => {
  const client = redisClient(t, redis.url)
  // past_at against the plain formula for TIME replies around a deadline's second boundaries
  const lua = NOW_MS + PAST + `
local out = {}
for i = 1, #ARGV, 3 do
  local t, d = { ARGV[i], ARGV[i + 1] }, ARGV[i + 2]
  local want = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(d)
  out[#out + 1] = (past_at(t, d) == want) and 1 or 0
  out[#out + 1] = want and 1 or 0
end
return out`
  const cases: Array<[string, string, string]> = []
  for (const sec of ['1764500000', '1764500001', '1764499999', '9999999999']) {
    for (const us of ['0', '999', '1000', '998999', '999000', '999999']) {
      for (const d of ['1764500000000', '1764500000001', '1764500000998', '1764500000999', '1764500001000', '1764499999999', '5', '99999999999999', '1764500000']) {
        cases.push([sec, us, d])
      }
    }
  }
  const reply = await client.eval(lua, 0, ...cases.flat()) as number[]
  const wrong = cases.filter((_, i) => reply[2 * i] !== 1)
  t.same(wrong, [], `past_at agrees with the formula in all ${cases.length} cases`)
  t.ok(reply.some((v, i) => i % 2 === 1 && v === 1) && reply.some((v, i) => i % 2 === 1 && v === 0), 'the cases hold both answers')
  // past() with Redis' own clock
  const [s] = await client.time()
  const now = 'return { past(ARGV[1]) and 1 or 0, past(ARGV[2]) and 1 or 0, past(ARGV[3]) and 1 or 0 }'
  t.same(await client.eval(NOW_MS + PAST + now, 0, '0', String(Number(s) * 1000 - 1001), String(Number(s) * 1000 + 60_000)), [0, 1, 0],
    'no deadline: not past; a second ago: past; in a minute: not past')
})

t.test('a script method sends EVALSHA, and EVAL when Redis lost its scripts; so does a batch (SCRIPT FLUSH)', async (t) => {
  const { defineScripts } = await import('../../src/stores/redis/lua/script.js')
  const { Batch } = await import('../../src/stores/redis/batch.js')
  const { createHash } = await import('node:crypto')
  const sha = createHash('sha1').update(TAKE.lua).digest('hex')
  const client = redisClient(t, redis.url)
  defineScripts(client, [TAKE])
  t.notOk('sbRateTake' in (client as unknown as { scriptsSet: object }).scriptsSet, 'not an ioredis script: a new pipeline copies nothing')
  const key = `lua-noscript-${process.pid}`
  const cached = async (): Promise<unknown> => await client.script('EXISTS', sha)
  await client.sbRateTake(key, 100, 1)
  t.same(await cached(), [1], 'sent once: Redis has the script')
  await client.script('FLUSH')
  t.same(await cached(), [0])
  t.same(await client.sbRateTake(key, 100, 1), ['allowed', 0], 'answers after SCRIPT FLUSH (EVAL after NOSCRIPT)')
  t.same(await cached(), [1], 'and Redis has it again')
  await client.script('FLUSH')
  const b = new Batch(client)
  const replies = [b.add<unknown>(c => c.sbRateTake(key, 100, 1)), b.add<unknown>(c => c.sbRateTake(key, 100, 1))]
  await b.run()
  t.same(await Promise.all(replies), [['allowed', 0], ['allowed', 0]], 'a pipelined batch after SCRIPT FLUSH gets every reply')
  t.same(await cached(), [1])
})
