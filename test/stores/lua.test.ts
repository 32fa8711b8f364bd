/**
 * Every Lua script, every composed variant, compiles in Redis (SCRIPT LOAD), including the
 * variants no other test runs; and each append variant's arguments match its KEYS and ARGV.
 */
import t from 'tap'
import { appendVariant, type AppendFeatures } from '../../src/stores/redis/lua/append.js'
import { ARCHIVE_COMMIT, ARCHIVE_MEASURE } from '../../src/stores/redis/lua/archive.js'
import { SINCE, SPAN } from '../../src/stores/redis/lua/history-reads.js'
import { INSTANCE_SCRIPTS } from '../../src/stores/redis/lua/instances.js'
import { PRESENCE_SCRIPTS } from '../../src/stores/redis/lua/presence.js'
import { HIT, TAKE } from '../../src/stores/redis/lua/rate-limit.js'
import { MARK } from '../../src/stores/redis/lua/receipts.js'
import type { Script } from '../../src/stores/redis/lua/script.js'
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
    TAKE, HIT, MARK, SINCE, SPAN, ARCHIVE_MEASURE, ARCHIVE_COMMIT, ...PRESENCE_SCRIPTS, ...INSTANCE_SCRIPTS,
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
