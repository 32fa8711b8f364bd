/**
 * Configuration (SPEC §2): every invalid variable makes the process exit 1 with one line naming
 * it; production refuses the dev secret, a short secret, or no key. The table runs through
 * parseConfig; a few cases also start the real server process to check the exit path.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseConfig, ConfigError, DEV_JWT_SECRET } from '../../src/config.js'
import { keyPair } from '../helpers/tokens.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const good = { JWT_SECRET: 'x'.repeat(32) }

t.test('defaults follow the contract', async (t) => {
  const c = parseConfig({})
  t.match(c, {
    PORT: 3000,
    HOST: '0.0.0.0',
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    ADAPTER: 'memory',
    ROOM_ACCESS: 'open',
    HISTORY_MAX_MESSAGES: 1000,
    MESSAGE_MAX_LENGTH: 4000,
    PRESENCE_TTL_MS: 30000,
    RECOVERY_WINDOW_MS: 120000,
    SHUTDOWN_GRACE_MS: 10000,
    RATE_LIMIT_HTTP_MAX: 100,
    RATE_LIMIT_HTTP_WINDOW_MS: 60000,
    RATE_LIMIT_SEND_BURST: 20,
    RATE_LIMIT_SEND_PER_SECOND: 2,
    RATE_LIMIT_EVENTS_PER_MINUTE: 120,
    RATE_LIMIT_CONNECTIONS_PER_10S: 30,
    MAX_FRAME_BYTES: 65536,
    MAX_ROOMS_PER_SOCKET: 100,
    MAX_SOCKET_BUFFER_BYTES: 8388608
  })
  t.equal(c.usingDevSecret, true)
  t.equal(c.JWT_SECRET, DEV_JWT_SECRET)
  t.same(c.transports, ['websocket', 'polling'])
  t.equal(c.corsOrigins, '*', 'CORS is * in development')
  t.same(c.jwtAlgorithms, ['HS256'])
  t.equal(parseConfig({ NODE_ENV: 'production', ...good }).corsOrigins, false, 'no CORS origins in production by default')
  t.equal(parseConfig({ REDIS_URL: 'redis://h:1' }).ADAPTER, 'redis', 'redis when Redis is configured')
  t.equal(parseConfig({ REDIS_CLUSTER_NODES: 'a:1,b:2' }).ADAPTER, 'redis-sharded', 'a cluster implies sharded')
  t.same(parseConfig({ REDIS_CLUSTER_NODES: 'a:1,b:2' }).redisClusterNodes, [{ host: 'a', port: 1 }, { host: 'b', port: 2 }])
  t.same(parseConfig({ JWT_PUBLIC_KEY: keyPair().publicKey }).jwtAlgorithms, ['RS256', 'ES256'])
  t.same(parseConfig({ CORS_ORIGINS: 'https://a.example, https://b.example:8443' }).corsOrigins, ['https://a.example', 'https://b.example:8443'])
  t.equal(parseConfig({ PORT: '' }).PORT, 3000, 'an empty value counts as unset')
  t.equal(parseConfig({ RATE_LIMIT_SEND_PER_SECOND: '0.5' }).RATE_LIMIT_SEND_PER_SECOND, 0.5)
})

const invalid: Array<[Record<string, string>, string]> = [
  [{ PORT: 'eighty' }, 'PORT'],
  [{ PORT: '70000' }, 'PORT'],
  [{ PORT: '-1' }, 'PORT'],
  [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  [{ REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL'],
  [{ REDIS_CLUSTER_NODES: 'localhost' }, 'REDIS_CLUSTER_NODES'],
  [{ ADAPTER: 'kafka', REDIS_URL: 'redis://x:1' }, 'ADAPTER'],
  [{ ADAPTER: 'redis' }, 'ADAPTER'],
  [{ ADAPTER: 'redis', REDIS_CLUSTER_NODES: 'a:1' }, 'ADAPTER'],
  [{ JWT_PUBLIC_KEY: 'not a pem' }, 'JWT_PUBLIC_KEY'],
  [{ JWT_PUBLIC_KEY: keyPair().publicKey, JWT_SECRET: 'x'.repeat(32) }, 'JWT_SECRET'],
  [{ JWT_ALGORITHMS: 'HS256', JWT_PUBLIC_KEY: keyPair().publicKey }, 'JWT_ALGORITHMS'],
  [{ JWT_ALGORITHMS: 'none' }, 'JWT_ALGORITHMS'],
  [{ CORS_ORIGINS: 'not an origin' }, 'CORS_ORIGINS'],
  [{ TRANSPORTS: 'carrier-pigeon' }, 'TRANSPORTS'],
  [{ ROOM_ACCESS: 'closed' }, 'ROOM_ACCESS'],
  [{ HISTORY_MAX_MESSAGES: '0' }, 'HISTORY_MAX_MESSAGES'],
  [{ MESSAGE_MAX_LENGTH: '1.5' }, 'MESSAGE_MAX_LENGTH'],
  [{ PRESENCE_TTL_MS: '10' }, 'PRESENCE_TTL_MS'],
  [{ RECOVERY_WINDOW_MS: 'soon' }, 'RECOVERY_WINDOW_MS'],
  [{ SHUTDOWN_GRACE_MS: '-5' }, 'SHUTDOWN_GRACE_MS'],
  [{ RATE_LIMIT_HTTP_MAX: '-1' }, 'RATE_LIMIT_HTTP_MAX'],
  [{ RATE_LIMIT_HTTP_WINDOW_MS: '0' }, 'RATE_LIMIT_HTTP_WINDOW_MS'],
  [{ RATE_LIMIT_SEND_BURST: 'lots' }, 'RATE_LIMIT_SEND_BURST'],
  [{ RATE_LIMIT_SEND_PER_SECOND: '-2' }, 'RATE_LIMIT_SEND_PER_SECOND'],
  [{ RATE_LIMIT_EVENTS_PER_MINUTE: '1e999' }, 'RATE_LIMIT_EVENTS_PER_MINUTE'],
  [{ RATE_LIMIT_CONNECTIONS_PER_10S: 'x' }, 'RATE_LIMIT_CONNECTIONS_PER_10S'],
  [{ MAX_FRAME_BYTES: '10' }, 'MAX_FRAME_BYTES'],
  [{ MAX_ROOMS_PER_SOCKET: '0' }, 'MAX_ROOMS_PER_SOCKET'],
  [{ MAX_SOCKET_BUFFER_BYTES: 'big' }, 'MAX_SOCKET_BUFFER_BYTES'],
  [{ REDIS_KEY_PREFIX: 'has space' }, 'REDIS_KEY_PREFIX'],
  [{ INSTANCE_ID: 'a/b' }, 'INSTANCE_ID'],
  [{ NODE_ENV: 'production' }, 'JWT_SECRET'],
  [{ NODE_ENV: 'production', JWT_SECRET: 'short' }, 'JWT_SECRET'],
  [{ NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET }, 'JWT_SECRET']
]

t.test('each invalid variable is named in one line', async (t) => {
  for (const [env, name] of invalid) {
    try {
      parseConfig(env)
      t.fail(`${JSON.stringify(env).slice(0, 80)} should be refused`)
    } catch (err) {
      t.type(err, ConfigError)
      const msg = (err as Error).message
      t.match(msg, name, `${name}: message names the variable (${msg})`)
      t.notOk(msg.includes('\n'), `${name}: one line`)
    }
  }
  t.equal(parseConfig({ NODE_ENV: 'production', JWT_PUBLIC_KEY: keyPair('ec').publicKey }).usingDevSecret, false, 'production with a public key is fine')
})

t.test('secrets are never echoed', async (t) => {
  try {
    parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'hunter2-short' })
    t.fail('should throw')
  } catch (err) {
    t.notMatch((err as Error).message, 'hunter2')
  }
  try {
    parseConfig({ METRICS_TOKEN: '', JWT_PUBLIC_KEY: 'secret-looking-garbage' })
    t.fail('should throw')
  } catch (err) {
    t.notMatch((err as Error).message, 'secret-looking-garbage')
  }
})

t.test('the server process exits 1 with one line on bad configuration', async (t) => {
  for (const [env, name] of [[{ PORT: 'eighty' }, 'PORT'], [{ NODE_ENV: 'production' }, 'JWT_SECRET'], [{ ADAPTER: 'redis-streams' }, 'ADAPTER']] as const) {
    const r = spawnSync(process.execPath, ['--import=tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      timeout: 20_000
    })
    t.equal(r.status, 1, `${name}: exit code 1`)
    const lines = r.stderr.trim().split('\n')
    t.equal(lines.length, 1, `${name}: one line (${r.stderr.trim()})`)
    t.match(lines[0], name)
    t.equal(r.stdout, '', `${name}: nothing else printed`)
  }
})

t.test('a port already in use is one line naming it, not a stack trace', async (t) => {
  const { createServer } = await import('node:net')
  const { spawn } = await import('node:child_process')
  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const port = (taken.address() as { port: number }).port
  const child = spawn(process.execPath, ['--import=tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  t.equal(code, 1, 'exit code 1')
  const lines = stderr.trim().split('\n')
  t.equal(lines.length, 1, `one line (${stderr.trim()})`)
  t.match(lines[0], `127.0.0.1:${port} is already in use`)
})
