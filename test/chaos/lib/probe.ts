/**
 * A send probe: one plain socket.io-client straight to one instance (no balancer, no retries),
 * sending a message every `everyMs` and recording each answer's code and latency — the raw
 * view of SPEC §8's "answers `unavailable` within 2 s" that the project's client (which retries)
 * hides. Acked probe messages go into the ledger like the load's.
 */
import { randomUUID } from 'node:crypto'
import { io } from 'socket.io-client'
import { token } from '../../helpers/tokens.js'
import type { Ledger } from './ledger.js'

export interface ProbeAnswer { t: number, ms: number, code: string }

export async function startProbe (url: string, roomId: string, ledger: Ledger, everyMs = 250): Promise<{ stop: () => ProbeAnswer[] }> {
  const s = io(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, auth: { token: token({ sub: `probe-${roomId}` }, { ttlS: 6 * 3600 }) } })
  const answers: ProbeAnswer[] = []
  let joined = false
  const join = (): void => {
    s.timeout(4000).emit('room:join', { roomId }, (err: Error | null, r: { ok: boolean }) => { joined = err === null && r.ok })
  }
  s.on('connect', join)
  s.on('disconnect', () => { joined = false })
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('probe could not join')), 10_000)
    const check = setInterval(() => { if (joined) { clearTimeout(t); clearInterval(check); resolve() } }, 20)
  })
  const timer = setInterval(() => {
    if (!s.connected) { answers.push({ t: Date.now(), ms: 0, code: 'disconnected' }); return }
    if (!joined) join()
    const cmid = randomUUID()
    const t0 = Date.now()
    ledger.start(-1, roomId, cmid)
    s.timeout(10_000).emit('message:send', { roomId, text: 'probe', clientMsgId: cmid }, (err: Error | null, r: { ok: boolean, message?: { id: string }, error?: { code: string } }) => {
      const code = err !== null ? 'timeout' : r.ok ? 'ok' : (r.error?.code ?? 'bad_answer')
      answers.push({ t: t0, ms: Date.now() - t0, code })
      if (code === 'ok' && r.message !== undefined) ledger.ok(cmid, r.message.id)
      else ledger.fail(cmid, code)
    })
  }, everyMs)
  return { stop: () => { clearInterval(timer); s.close(); return answers } }
}
