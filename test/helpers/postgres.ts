/**
 * Test PostgreSQL: the one at DATABASE_URL when set, otherwise a throwaway cluster this helper
 * creates with Debian's binaries (/usr/lib/postgresql/<v>/bin: initdb + postgres) in a temporary
 * directory, listening on a free loopback port only (never the machine's own 5432), and removes
 * at teardown. initdb refuses root, so as root the cluster runs as the `postgres` (or `nobody`)
 * user, via setpriv, in a directory chowned to it. `stop`/`start` simulate an outage.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort, sleep } from './net.js'

export interface TestPostgres {
  url: string
  /** stops the server (owned servers only); `start` brings it back on the same port and data */
  stop: () => Promise<void>
  start: () => Promise<void>
  close: () => Promise<void>
  owned: boolean
}

function binDir (): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter(v => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : []
  if (versions.length === 0) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)')
  return join(root, versions[0], 'bin')
}

/** uid/gid to run as: ourselves unless root, then `postgres` or `nobody` */
function runAs (): { uid: number, gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  for (const user of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', user], { encoding: 'utf8' })
    const g = spawnSync('id', ['-g', user], { encoding: 'utf8' })
    if (r.status === 0 && g.status === 0) return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) }
  }
  throw new Error('running as root and neither `postgres` nor `nobody` exists to run PostgreSQL')
}

export async function waitForPostgres (url: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < end) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
    c.on('error', () => {})
    try {
      await c.connect()
      await c.query('SELECT 1')
      await c.end()
      return
    } catch (err) {
      last = err
      await c.end().catch(() => {})
      await sleep(100)
    }
  }
  throw new Error(`postgres at ${url} did not answer within ${timeoutMs} ms: ${String(last)}`)
}

export async function startPostgres (opts: { own?: boolean, env?: Record<string, string | undefined> } = {}): Promise<TestPostgres> {
  const env = opts.env ?? process.env
  const external = env.DATABASE_URL
  if (external !== undefined && external !== '' && opts.own !== true) {
    await waitForPostgres(external)
    const refuse = async (): Promise<void> => { throw new Error('cannot stop an external PostgreSQL (DATABASE_URL)') }
    return { url: external, stop: refuse, start: refuse, close: async () => {}, owned: false }
  }
  const bin = binDir()
  const user = runAs()
  const dir = mkdtempSync(join(tmpdir(), 'sb-pg-'))
  const data = join(dir, 'data')
  if (user !== undefined) {
    chownSync(dir, user.uid, user.gid)
    chmodSync(dir, 0o700)
  }
  const spawnOpts = { ...(user !== undefined && { uid: user.uid, gid: user.gid }), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } }
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'], { ...spawnOpts, encoding: 'utf8' })
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`initdb failed: ${init.stderr}`)
  }
  const port = await freePort()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  let proc: ChildProcess | undefined
  const start = async (): Promise<void> => {
    proc = spawn(join(bin, 'postgres'), [
      '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=50', '-c', 'shared_buffers=16MB'
    ], { ...spawnOpts, stdio: 'ignore' })
    await waitForPostgres(url)
  }
  const stop = async (): Promise<void> => {
    const p = proc
    proc = undefined
    if (p === undefined || p.exitCode !== null) return
    const exited = new Promise(resolve => p.once('exit', resolve))
    p.kill('SIGINT') // fast shutdown
    await exited
  }
  await start()
  const close = async (): Promise<void> => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  }
  return { url, stop, start, close, owned: true }
}

/** A fresh database on the test server, so test files sharing one server never see each other's rows. */
export async function createDatabase (serverUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: serverUrl })
  await c.connect()
  try {
    await c.query(`CREATE DATABASE "${name.replace(/[^a-z0-9_]/g, '_')}"`)
  } finally {
    await c.end()
  }
  const u = new URL(serverUrl)
  u.pathname = `/${name.replace(/[^a-z0-9_]/g, '_')}`
  return u.toString()
}
