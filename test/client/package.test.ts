/**
 * `import { … } from 'switchboard/client'` from another project (SPEC §9): builds with the
 * project's `npm run build`, packs with `npm pack`, and installs the tarball into a consumer
 * project with a real `npm install` (from npm's cache where it can) — so a dependency whose
 * install scripts fail outside this repository fails here too (fastify-socket.io's did). The
 * consumer then type-checks against the published declarations (wrong payloads must fail) and
 * runs against a live server.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startApp } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'

const exec = promisify(execFile)
// tap's process-info hook puts its loaders into child node processes' NODE_OPTIONS; tsc and
// the consumer must run as plain node, so the children drop it
const run = async (cmd: string, args: string[], opts: { cwd: string, timeout?: number }): Promise<{ stdout: string, stderr: string }> =>
  await exec('/bin/sh', ['-c', 'unset NODE_OPTIONS; exec "$@"', 'sh', cmd, ...args], opts)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')

const CONSUMER_TS = `import { createClient, SwitchboardError, type Message, type ClientErrorCode } from 'switchboard/client'

const client = createClient({ url: 'http://localhost:3000', token: async () => 'jwt', transports: ['websocket'] })
client.on('message', (m: Message) => console.log(m.id, m.text, m.at + 1))
client.on('gap', (e) => console.log(e.roomId, e.since))
export async function demo (): Promise<ClientErrorCode | undefined> {
  await client.join('lobby', { history: 20 })
  const m = await client.send('lobby', 'hi', { meta: { a: 1 } })
  const page = await client.history('lobby', { before: m.id, limit: 10 })
  console.log(page.hasMore, page.messages.length)
  // @ts-expect-error text must be a string
  await client.send('lobby', 42)
  // @ts-expect-error not an event of the contract
  await client.request('room:nuke', { roomId: 'lobby' })
  // @ts-expect-error room:join takes a roomId
  await client.request('room:join', { room: 'lobby' })
  try { await client.read('lobby', m.id) } catch (err) { if (err instanceof SwitchboardError) return err.code }
  return undefined
}
`

const CONSUMER_MJS = `import { createClient } from 'switchboard/client'
const [url, token] = process.argv.slice(2)
const client = createClient({ url, token, transports: ['websocket'] })
const got = []
client.on('message', (m) => got.push(m.text))
await client.join('pkg')
const m = await client.send('pkg', 'from another project')
while (got.length === 0) await new Promise(resolve => setTimeout(resolve, 20))
client.close()
console.log(JSON.stringify({ id: m.id, got }))
`

t.test('switchboard/client from a packed tarball in another project', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-client-pkg-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))

  await run('npm', ['run', 'build'], { cwd: ROOT })
  // what the built client loads at run time: socket.io-client and its own files, nothing else
  // (TypeBox and the server's schemas are types only)
  const builtDir = join(ROOT, 'dist/src/client')
  const imported = new Set<string>()
  for (const f of (await readdir(builtDir)).filter(f => f.endsWith('.js'))) {
    for (const m of (await readFile(join(builtDir, f), 'utf8')).matchAll(/\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]/g)) {
      imported.add(m[1] ?? m[2])
    }
  }
  t.same([...imported].filter(s => !s.startsWith('./')), ['socket.io-client'], 'the built client imports only socket.io-client (and its own files)')
  const packed = JSON.parse((await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT })).stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed[0].files.map(f => f.path)
  t.ok(files.includes('dist/src/client/index.js'), 'the tarball has the client')
  t.ok(files.includes('dist/src/client/index.d.ts'), 'and its declarations')
  t.notOk(files.some(f => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests')

  const app = join(dir, 'app')
  await mkdir(app, { recursive: true })
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }))
  // what a user runs; its install scripts run as they would for them
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed[0].filename)], { cwd: app, timeout: 240_000 })
    .then(() => ({ ok: true, out: '' }), (e: { stdout: string, stderr: string }) => ({ ok: false, out: `${e.stdout}\n${e.stderr}` }))
  t.ok(install.ok, `npm install <tarball> succeeds in another project${install.ok ? '' : `\n${install.out}`}`)
  await writeFile(join(app, 'main.ts'), CONSUMER_TS)
  await writeFile(join(app, 'main.mjs'), CONSUMER_MJS)
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', lib: ['ES2022', 'DOM'], module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: [], skipLibCheck: true },
    files: ['main.ts']
  }))

  const tsc = await run(process.execPath, [TSC, '-p', app], { cwd: app }).then(() => ({ code: 0, out: '' }), (e: { code: number, stdout: string }) => ({ code: e.code, out: e.stdout }))
  t.equal(tsc.code, 0, `the consumer type-checks against the published types (and the @ts-expect-error lines fail as they must)\n${tsc.out}`)

  const server = await startApp(t)
  const out = await run(process.execPath, ['main.mjs', server.url, token({ sub: 'pkg-user' })], { cwd: app, timeout: 30_000 })
  const result = JSON.parse(out.stdout) as { id: string, got: string[] }
  t.match(result.id, /^\d+-\d+$/, 'sent through the packaged client')
  t.same(result.got, ['from another project'], 'and received its own message')
})
