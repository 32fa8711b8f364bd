/**
 * A send probe: one plain socket.io-client straight to one instance (no balancer, no retries),
 * sending a message every `everyMs` and recording each answer's code and latency — the raw
 * view of SPEC §8's "answers `unavailable` within 2 s" that the project's client (which retries)
 * hides. It runs in its own process (probe-child.ts), so the load clients' work in the runner
 * does not add to what it measures. Acked probe messages go into the ledger like the load's.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { token } from '../../helpers/tokens.js'
import type { Ledger } from './ledger.js'

export interface ProbeAnswer { t: number, ms: number, code: string }

const CHILD = fileURLToPath(new URL('./probe-child.ts', import.meta.url))

export async function startProbe (url: string, roomId: string, ledger: Ledger, everyMs = 250): Promise<{ stop: () => ProbeAnswer[] }> {
  const jwt = token({ sub: `probe-${roomId}` }, { ttlS: 6 * 3600 })
  const child = spawn(process.execPath, ['--import=tsx', CHILD, url, roomId, String(everyMs), jwt], { stdio: ['pipe', 'pipe', 'inherit'] })
  const answers: ProbeAnswer[] = []
  let joined: () => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    joined = resolve
    setTimeout(() => reject(new Error('probe could not join')), 30_000).unref()
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    let a: { joined?: boolean, t: number, ms: number, code: string, cmid?: string, id?: string }
    try { a = JSON.parse(line) } catch { return }
    if (a.joined === true) { joined(); return }
    answers.push({ t: a.t, ms: a.ms, code: a.code })
    if (a.cmid === undefined) return
    ledger.start(-1, roomId, a.cmid)
    if (a.code === 'ok' && a.id !== undefined) ledger.ok(a.cmid, a.id)
    else ledger.fail(a.cmid, a.code)
  })
  await ready
  return { stop: () => { child.kill('SIGKILL'); return answers } }
}
