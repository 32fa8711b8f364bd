/**
 * The README's snippets run as written (issue 8 §4): the shell block of the quick start mints a
 * token with `npm run token`, calls REST with curl and runs examples/hello.mjs, against a real
 * instance. Every `js` block of the README and of docs/ is either that example, byte for byte, or
 * marked as a fragment; every relative link of the README and docs/ reaches a file and, for a
 * page, a heading of it; docs/README.md lists every page. The only change made to run the
 * snippets: the instance listens on a free port, not 3000.
 */
import t from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnServer } from '../helpers/proc.js'
import { TEST_SECRET } from '../helpers/tokens.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]
const text = new Map(pages.map(p => [p, readFileSync(join(ROOT, p), 'utf8')]))
const readme = text.get('README.md') ?? ''
const codeBlocks = (md: string): Array<{ lang: string, code: string }> => [...md.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map(m => ({ lang: m[1], code: m[2] }))
const blocks = codeBlocks(readme)

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replaceAll(' ', '-')
const anchors = (md: string): Set<string> => new Set([...md.replace(/```[\s\S]*?```/g, '').matchAll(/^#+ (.+)$/gm)].map(m => slug(m[1])))

t.test('every js block is a runnable example or marked as a fragment', async (t) => {
  t.ok(blocks.some(b => b.lang === 'js'), 'the README has the example')
  for (const [page, md] of text) {
    for (const b of codeBlocks(md).filter(b => b.lang === 'js')) {
      const first = b.code.split('\n')[0]
      const file = /^\/\/ (examples\/[\w.-]+\.mjs)/.exec(first)?.[1]
      if (file !== undefined) t.equal(b.code, readFileSync(`${ROOT}${file}`, 'utf8'), `${page}: ${file} is the file`)
      else t.match(first, /^\/\/ fragment:/, `${page}: marked as a fragment`)
    }
    t.notMatch(md, /shared\/SPEC\.md/, `${page}: no pointer to a file users do not have`)
  }
})

t.test('every relative link of the README and docs/ reaches its target', async (t) => {
  for (const [page, md] of text) {
    const prose = md.replace(/```[\s\S]*?```/g, '')
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue // https:, mailto:
      const [path, anchor] = target.split('#')
      const file = path === '' ? page : normalize(join(dirname(page), path))
      t.ok(existsSync(join(ROOT, file)), `${page} → ${target}: ${file} exists`)
      if (anchor !== undefined && file.endsWith('.md')) {
        t.ok(anchors(text.get(file) ?? readFileSync(join(ROOT, file), 'utf8')).has(anchor), `${page} → ${target}: the heading exists`)
      }
    }
  }
  const index = text.get('docs/README.md') ?? ''
  for (const page of pages.filter(p => p.startsWith('docs/') && p !== 'docs/README.md')) {
    t.ok(index.includes(`](${page.slice('docs/'.length)})`), `docs/README.md lists ${page}`)
  }
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
