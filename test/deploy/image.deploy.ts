/**
 * deploy/Dockerfile's final stage without a Docker engine: what that stage puts in the image is
 * assembled in a temporary directory from the file itself (its COPY of the package files, its
 * `npm ci` command, the build stage's `dist/`, its ENV) and started with its CMD, on a real
 * Redis with the compose file's adapter; its HEALTHCHECK command must pass, a message must go
 * through, and its STOPSIGNAL must end the process with exit 0 within SHUTDOWN_GRACE_MS.
 * This catches what parsing cannot: a package the built code imports that the production install
 * lacks, a CMD that points at nothing, a health check that never passes. Not covered (no
 * engine): the base image, the non-root USER's file permissions, the build context.
 * npm runs with prefer-offline (the cache `npm ci` of the checkout filled).
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DockerfileParser } from 'dockerfile-ast'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { token, TEST_SECRET } from '../helpers/tokens.js'
import { freePort, until } from '../helpers/net.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const df = DockerfileParser.parse(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8'))
const froms = df.getFROMs()
const finalLine = froms[froms.length - 1].getRange().start.line
const final = df.getInstructions().filter(i => i.getRange().start.line > finalLine)
const args = (kw: string): string[] => final.filter(i => i.getKeyword() === kw).map(i => i.getArgumentsContent() ?? '')
// tap puts its loaders into every child's NODE_OPTIONS: the build, npm and the server run without
const clean = (cmd: string, a: string[]): [string, string[]] => ['env', ['-u', 'NODE_OPTIONS', cmd, ...a]]
const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME }

// the build stage's output (`npm run build`, as in the Dockerfile)
await run(...clean('npm', ['run', 'build']), { cwd: ROOT, env: baseEnv })

const app = mkdtempSync(join(tmpdir(), 'sb-image-'))
t.teardown(() => rmSync(app, { recursive: true, force: true }))

t.test('the final stage, assembled from the Dockerfile, starts, serves, passes its health check and stops on its signal', async (t) => {
  // COPY lines: package files from the context, dist from the build stage
  for (const c of final.filter(i => i.getKeyword() === 'COPY').map(i => i.getTextContent().replace(/^COPY\s+/i, ''))) {
    const parts = c.trim().split(/\s+/)
    const from = parts[0].startsWith('--from=') ? parts.shift() : undefined
    const dest = parts.pop() as string
    for (const src of parts) cpSync(join(ROOT, from !== undefined ? src.replace(/^\/app\//, '') : src), join(app, dest === './' ? src : dest), { recursive: true })
  }
  const install = args('RUN').flatMap(r => r.split('&&').map(s => s.trim())).filter(s => s.startsWith('npm ci'))
  t.equal(install.length, 1, `the final stage installs with: ${install[0]}`)
  await run(...clean('sh', ['-c', install[0]]), { cwd: app, env: { ...baseEnv, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' }, timeout: 180_000 })

  const redis = await startRedis()
  t.teardown(redis.close)
  const stageEnv = Object.fromEntries(args('ENV').join(' ').replace(/\\\s*/g, ' ').trim().split(/\s+/).map(kv => kv.split('=') as [string, string]))
  t.equal(stageEnv.NODE_ENV, 'production', 'the stage runs in production mode')
  const port = await freePort()
  const env = {
    ...baseEnv,
    ...stageEnv,
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix('image'),
    ADAPTER: 'redis-streams',
    JWT_SECRET: TEST_SECRET,
    SHUTDOWN_GRACE_MS: '10000',
    LOG_LEVEL: 'warn'
  }
  const cmd = JSON.parse(args('CMD')[0]) as string[]
  t.equal(cmd[0], 'node', 'CMD runs node itself (PID 1 gets the signal)')
  const proc = spawn(process.execPath, cmd.slice(1), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | string>(resolve => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })

  // the HEALTHCHECK's exec form, run as Docker would (inside the container's environment)
  const hc = /CMD\s+(\[.*\])\s*$/s.exec(args('HEALTHCHECK')[0])?.[1]
  t.ok(hc !== undefined, 'HEALTHCHECK runs an exec-form command')
  const health = JSON.parse(hc as string) as string[]
  const healthy = async (): Promise<boolean> => await run(...clean(health[0] === 'node' ? process.execPath : health[0], health.slice(1)), { cwd: app, env, timeout: 5000 }).then(() => true, () => false)
  await until(async () => proc.exitCode !== null || await healthy(), 30_000, 250).catch(() => {})
  t.equal(proc.exitCode, null, `the process runs ${proc.exitCode !== null ? out : ''}`)
  t.ok(await healthy(), 'the HEALTHCHECK command passes (/health/ready)')

  const url = `http://127.0.0.1:${port}`
  const service = token({ sub: 'ops', role: 'service' })
  const sent = await fetch(`${url}/v1/rooms/image/messages`, { method: 'POST', headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'from the image' }) })
  t.equal(sent.status, 201, 'a message is stored (Redis, redis-streams adapter)')
  const page = await (await fetch(`${url}/v1/rooms/image/messages?limit=10`, { headers: { authorization: `Bearer ${service}` } })).json() as { messages: Array<{ text: string }> }
  t.same(page.messages.map(m => m.text), ['from the image'], 'and read back from history')

  const signal = args('STOPSIGNAL')[0] as NodeJS.Signals
  const at = Date.now()
  proc.kill(signal)
  const code = await exited
  t.equal(code, 0, `${signal} ends it with exit 0`)
  t.ok(Date.now() - at < Number(env.SHUTDOWN_GRACE_MS), `within SHUTDOWN_GRACE_MS (${Date.now() - at} ms)`)
  t.notMatch(out, /"level":(50|60)/, 'no error logged')
})
