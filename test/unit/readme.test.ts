/**
 * The README's snippets run as written (issue 8 §4): the shell block of the quick start mints a
 * token with `npm run token`, calls REST with curl and runs examples/hello.mjs, against a real
 * instance. Every `js` block is either that example, byte for byte, or marked as a fragment.
 * The only change made to run them: the instance listens on a free port, not 3000.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { spawnServer } from '../helpers/proc.js'
import { TEST_SECRET } from '../helpers/tokens.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const readme = readFileSync(`${ROOT}README.md`, 'utf8')
const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map(m => ({ lang: m[1], code: m[2] }))

t.test('every js block is a runnable example or marked as a fragment', async (t) => {
  const js = blocks.filter(b => b.lang === 'js')
  t.ok(js.length > 0)
  for (const b of js) {
    const first = b.code.split('\n')[0]
    const file = /^\/\/ (examples\/[\w.-]+\.mjs)/.exec(first)?.[1]
    if (file !== undefined) t.equal(b.code, readFileSync(`${ROOT}${file}`, 'utf8'), `${file} in the README is the file`)
    else t.match(first, /^\/\/ fragment:/, 'marked as a fragment')
  }
  t.notMatch(readme, /shared\/SPEC\.md/, 'no pointer to a file users do not have')
})

t.test('the quick start shell block runs as written', async (t) => {
  const block = blocks.find(b => b.lang === 'sh' && b.code.includes('examples/hello.mjs'))
  if (block === undefined) throw new Error('no quick-start block')
  const server = await spawnServer(t, {})
  const script = block.code.replaceAll('localhost:3000', `127.0.0.1:${server.port}`)
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, JWT_SECRET: TEST_SECRET, URL: server.url },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('exit', (c) => { clearTimeout(timer); resolve(c) })
  })
  t.equal(code, 0, `exits 0 by itself:\n${out}`)
  t.match(out, /"messages":\[/, 'curl got the history')
  t.match(out, /message:new alice hi/, 'the example heard its own message')
  await server.stop()
})
