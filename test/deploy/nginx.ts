/**
 * The real nginx (Debian's package) for the deploy tests: renders the SHIPPED deploy/nginx.conf
 * for loopback by a documented, mechanical substitution and runs it as a non-daemon child
 * process with its prefix, temp paths, pid and logs in a temporary directory.
 *
 * The substitution (nothing else of the file changes):
 *   - the `server <host>:<port> <params>;` lines of the `upstream switchboard` block are
 *     replaced, in order, by `server 127.0.0.1:<port> <params>;` (the number of lines must
 *     equal the number of ports given);
 *   - `listen 80;` becomes `listen 127.0.0.1:<port>;`;
 *   - right after `http {`: access_log and the *_temp_path directives point into the temp dir;
 *   - with `sticky: false` the `ip_hash;` line is dropped (only to prove that long-polling
 *     needs it).
 * pid and error_log go on the command line (`-g`, `-e`).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, sleep } from '../helpers/net.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const SHIPPED_CONF = join(ROOT, 'deploy/nginx.conf')

/** Path of the nginx binary, or undefined when it is not installed (`.ci/run` installs it). */
export function nginxBinary (): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p
  try { return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined } catch { return undefined }
}

export interface RenderOptions { upstreams: number[], listen: number, dir: string, sticky?: boolean }

/** Renders the shipped config for loopback (see the header for the exact substitution). */
export function renderNginx (conf: string, opts: RenderOptions): string {
  const lines = conf.split('\n')
  const start = lines.findIndex(l => /^\s*upstream switchboard \{/.test(l))
  if (start < 0) throw new Error('deploy/nginx.conf: no `upstream switchboard {` block')
  let n = 0
  for (let i = start + 1; i < lines.length && !/^\s*\}/.test(lines[i]); i++) {
    const m = /^(\s*)server\s+\S+:\d+(\s[^;]*)?;\s*$/.exec(lines[i])
    if (m === null) continue
    if (n >= opts.upstreams.length) throw new Error('deploy/nginx.conf has more upstream servers than ports given')
    lines[i] = `${m[1]}server 127.0.0.1:${opts.upstreams[n++]}${m[2] ?? ''};`
  }
  if (n !== opts.upstreams.length) throw new Error(`deploy/nginx.conf has ${n} upstream servers, ${opts.upstreams.length} ports given`)
  let out = lines.join('\n')
  if (!/^\s*listen 80;$/m.test(out)) throw new Error('deploy/nginx.conf: no `listen 80;` line')
  out = out.replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${opts.listen};`)
  if (opts.sticky === false) out = out.replace(/^\s*ip_hash;\n/m, '')
  const v = nginxConfigure()
  const temps = ['client_body', 'proxy', ...['fastcgi', 'uwsgi', 'scgi'].filter(m => !v.includes(`--without-http_${m}_module`))]
  const paths = temps.map(t => `  ${t}_temp_path ${join(opts.dir, t)};`).join('\n')
  out = out.replace(/^http \{$/m, `http {\n  access_log ${join(opts.dir, 'access.log')};\n${paths}`)
  return out
}

let configure: string | undefined
function nginxConfigure (): string {
  // `nginx -V` prints its configure arguments on stderr
  configure ??= execFileSync('sh', ['-c', `"${nginxBinary() ?? 'nginx'}" -V 2>&1`], { encoding: 'utf8' })
  return configure
}

export interface Nginx {
  url: string
  port: number
  dir: string
  conf: string
  errorLog: () => string
  stop: () => Promise<void>
}

/** Renders the shipped config and starts nginx in the foreground; resolves once it accepts TCP. */
export async function startNginx (upstreams: number[], opts: { sticky?: boolean } = {}): Promise<Nginx> {
  const bin = nginxBinary()
  if (bin === undefined) throw new Error('nginx is not installed (.ci/run installs it: apt-get install nginx-light)')
  const dir = mkdtempSync(join(tmpdir(), 'sb-nginx-'))
  const port = await freePort()
  const conf = renderNginx(readFileSync(SHIPPED_CONF, 'utf8'), { upstreams, listen: port, dir, sticky: opts.sticky })
  const confPath = join(dir, 'nginx.conf')
  writeFileSync(confPath, conf)
  const errPath = join(dir, 'error.log')
  const args = ['-p', dir, '-c', confPath, '-e', errPath, '-g', `daemon off; master_process on; pid ${join(dir, 'nginx.pid')};`]
  execFileSync(bin, ['-t', ...args], { stdio: 'pipe' }) // a config error fails here with nginx's message
  const proc: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const end = Date.now() + 10_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${out}`)
    const ok = await fetch(`${url}/nginx-probe`, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false)
    if (ok) break
    if (Date.now() > end) throw new Error(`nginx did not listen within 10 s: ${out}`)
    await sleep(50)
  }
  const errorLog = (): string => (existsSync(errPath) ? readFileSync(errPath, 'utf8') : '') + out
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGQUIT') // graceful
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }
  return { url, port, dir, conf, errorLog, stop: async () => { await stop(); rmSync(dir, { recursive: true, force: true }) } }
}
