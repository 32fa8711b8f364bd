/**
 * Scenario 8: instances whose clocks are off. Three instances on one Redis: A right, B five
 * minutes ahead, C five minutes behind (a preload shifts Date and performance.timeOrigin in
 * that process only). Everything that must agree across instances has to use Redis' clock
 * (SPEC §8), so: ids stay strictly increasing in send order across the three, `at` is the real
 * time, one user's send bucket is shared and refills at its rate, a valid token is accepted and
 * an expired one refused on every instance, a user on a skewed instance stays online while
 * connected and goes offline within PRESENCE_TTL_MS + 5 s of that instance's crash.
 */
import { io, type Socket } from 'socket.io-client'
import { sleep } from '../../helpers/net.js'
import { token } from '../../helpers/tokens.js'
import { skewedClock } from '../../helpers/proc.js'
import { compareIds } from '../../../src/client/index.js'
import { Cluster } from '../lib/cluster.js'
import { check, type Check, type Scale, type ScenarioResult } from '../lib/report.js'

const SKEW_MS = 5 * 60_000
const OFFSETS = [0, SKEW_MS, -SKEW_MS]
const NAMES = ['A (right)', 'B (+5 min)', 'C (−5 min)']

async function connect (url: string, jwt: string): Promise<{ socket?: Socket, error?: string }> {
  const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: jwt } })
  return await new Promise((resolve) => {
    const timer = setTimeout(() => { s.close(); resolve({ error: 'timeout' }) }, 8000)
    s.once('connect', () => { clearTimeout(timer); resolve({ socket: s }) })
    s.once('connect_error', (e) => { clearTimeout(timer); s.close(); resolve({ error: e.message }) })
  })
}

export async function clock (scale: Scale): Promise<ScenarioResult> {
  const started = Date.now()
  const burst = 5
  const cluster = await Cluster.start({
    instances: 3,
    env: { RATE_LIMIT_SEND_BURST: String(burst), RATE_LIMIT_SEND_PER_SECOND: '1', PRESENCE_TTL_MS: String(scale.presenceTtlMs) },
    envOf: (i): Record<string, string> => OFFSETS[i] === 0 ? {} : skewedClock(OFFSETS[i]) as Record<string, string>
  })
  const open: Socket[] = []
  const checks: Check[] = []
  const notes: string[] = []
  const tag = `s8-${scale.seed}`
  const room = `${tag}-room`
  // connections for the other checks: issued 10 min ago, valid 1 h, so no instance's clock refuses them
  const issued = Math.floor(Date.now() / 1000) - 600
  const jwt = (sub: string): string => token({ sub, iat: issued, exp: issued + 4200 })
  try {
    const urls = cluster.servers.map(s => s.url)
    // 1. ids and `at`: one sender per instance, in turn, each send acked before the next
    const senders: Socket[] = []
    for (let i = 0; i < 3; i++) {
      const c = await connect(urls[i], jwt(`${tag}-sender${i}`))
      if (c.socket === undefined) throw new Error(`sender on ${NAMES[i]}: ${c.error ?? ''}`)
      open.push(c.socket)
      senders.push(c.socket)
      await c.socket.timeout(5000).emitWithAck('room:join', { roomId: room })
    }
    const acked: Array<{ id: string, at: number, real: number, i: number }> = []
    for (let k = 0; k < 3 * burst; k++) {
      const i = k % 3
      const r = await senders[i].timeout(5000).emitWithAck('message:send', { roomId: room, text: `clock ${k}` })
      if (r.ok === true) acked.push({ id: r.message.id, at: r.message.at, real: Date.now(), i })
      else notes.push(`send ${k} on ${NAMES[i]}: ${r.error.code}`)
      if (k % 3 === 2) await sleep(1100) // stay under the bucket's refill so every send is accepted
    }
    let inversions = 0
    for (let k = 1; k < acked.length; k++) if (compareIds(acked[k - 1].id, acked[k].id) >= 0) inversions++
    const hist = await cluster.history(room)
    const sameOrder = hist.map(m => m.id).join() === acked.map(a => a.id).join()
    const atSkew = Math.max(0, ...acked.map(a => Math.abs(a.at - a.real)))
    checks.push(
      check('sends acked across A, B, C in turn', `${acked.length} of ${3 * burst}`, 'all', acked.length === 3 * burst),
      check('ids not increasing in send order', inversions, '0', inversions === 0),
      check('history order = send order', sameOrder, 'true', sameOrder),
      check('largest |at − real time| (ms)', atSkew, '≤ 2000 (at from Redis\' clock)', atSkew <= 2000)
    )

    // 2. one user, sockets on all three instances, one bucket: burst then 1/s
    const limited: Socket[] = []
    for (let i = 0; i < 3; i++) {
      const c = await connect(urls[i], jwt(`${tag}-limited`))
      if (c.socket === undefined) throw new Error(`limited user on ${NAMES[i]}: ${c.error ?? ''}`)
      open.push(c.socket)
      limited.push(c.socket)
      await c.socket.timeout(5000).emitWithAck('room:join', { roomId: room })
    }
    const t0 = Date.now()
    let accepted = 0
    const tries = 4 * burst
    for (let k = 0; k < tries; k++) {
      const r = await limited[k % 3].timeout(5000).emitWithAck('message:send', { roomId: room, text: `limited ${k}` })
      if (r.ok === true) accepted++
    }
    const maxAllowed = burst + Math.ceil((Date.now() - t0) / 1000) * 1
    checks.push(check('one user over 3 instances: sends accepted of a fast burst', `${accepted} of ${tries}`, `${burst} … ${maxAllowed} (burst ${burst}, 1/s refill)`, accepted >= burst && accepted <= maxAllowed))

    // 3. tokens just issued, valid for 2 more minutes → accepted everywhere; expired a minute ago → refused everywhere
    const now = Math.floor(Date.now() / 1000)
    for (let i = 0; i < 3; i++) {
      const good = await connect(urls[i], token({ sub: `${tag}-t${i}`, iat: now, exp: now + 120 }))
      good.socket?.close()
      const bad = await connect(urls[i], token({ sub: `${tag}-t${i}`, iat: now - 600, exp: now - 60 }))
      bad.socket?.close()
      const right = good.socket !== undefined && bad.error === 'token_expired'
      checks.push(check(`tokens on ${NAMES[i]}: issued now, exp in 2 min / exp 1 min ago`, `${good.socket !== undefined ? 'accepted' : good.error ?? ''} / ${bad.socket !== undefined ? 'accepted' : bad.error ?? ''}`, 'accepted / token_expired', right))
    }

    // 4. presence of a user on each skewed instance: online while connected, past a TTL
    const watchers: string[] = []
    for (let i = 1; i < 3; i++) {
      const c = await connect(urls[i], jwt(`${tag}-present${i}`))
      if (c.socket === undefined) throw new Error(`present user on ${NAMES[i]}: ${c.error ?? ''}`)
      open.push(c.socket)
      watchers.push(`${tag}-present${i}`)
    }
    await sleep(scale.presenceTtlMs + 2000)
    const p1 = await cluster.presence(watchers)
    checks.push(check('users on B and C online after PRESENCE_TTL_MS + 2 s', p1.map(u => `${u.status}/${u.connections}`).join(', '), 'online/1, online/1', p1.every(u => u.status === 'online' && u.connections === 1)))
    // B (clock ahead) crashes: its entries must expire on Redis' clock, not 5 min late
    const killedAt = Date.now()
    cluster.servers[1].proc.kill('SIGKILL')
    let offlineMs = -1
    while (Date.now() - killedAt < scale.presenceTtlMs + 15_000) {
      await sleep(250)
      const [u] = await cluster.presence([watchers[0]]).catch(() => [{ status: 'error' }])
      if (u.status === 'offline') { offlineMs = Date.now() - killedAt; break }
    }
    checks.push(check('user of crashed B (+5 min) offline after (ms)', offlineMs < 0 ? 'still online' : offlineMs, `≤ PRESENCE_TTL_MS + 5 s = ${scale.presenceTtlMs + 5000}`, offlineMs >= 0 && offlineMs <= scale.presenceTtlMs + 5000))
    return {
      id: 'S8',
      title: 'Clocks 5 minutes off',
      load: 'three instances on one Redis: A right, B +5 min, C −5 min (Date and performance.timeOrigin shifted by a preload); sends in turn, one rate-limited user on all three, tokens, presence',
      fault: 'wall clock of B and C off by ±5 min; B SIGKILLed at the end',
      checks,
      seconds: (Date.now() - started) / 1000,
      notes
    }
  } finally {
    for (const s of open) s.close()
    await cluster.close()
  }
}
