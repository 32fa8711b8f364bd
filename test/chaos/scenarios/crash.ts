/**
 * Scenario 1: SIGKILL one of three instances under load. Rule: 0 acked missing, 0 duplicates,
 * 0 out of order, no client gives up; presence converges to the truth (every connected user
 * online with exactly its one connection) within PRESENCE_TTL_MS + 5 s of the kill.
 */
import { sleep } from '../../helpers/net.js'
import { Cluster } from '../lib/cluster.js'
import { Load } from '../lib/load.js'
import { check, ledgerChecks, markAt, timelineOf, type Scale, type ScenarioResult } from '../lib/report.js'

export async function crash (scale: Scale): Promise<ScenarioResult> {
  const started = Date.now()
  const cluster = await Cluster.start({ instances: 3, env: { PRESENCE_TTL_MS: String(scale.presenceTtlMs) } })
  const load = new Load({ url: cluster.balancer.url, clients: scale.clients, rooms: scale.rooms, tag: `s1-${scale.seed}` })
  try {
    await load.start()
    const marks: NonNullable<ScenarioResult['marks']> = []
    load.startSending(scale.rate)
    await sleep(scale.beforeS * 1000)
    const killedAt = Date.now()
    marks.push(markAt(load.ledger, 'SIGKILL instance 2'))
    cluster.servers[1].proc.kill('SIGKILL')
    // presence: poll until it matches the truth, while the load goes on
    const users = Array.from({ length: scale.clients }, (_, i) => load.userId(i))
    const bound = scale.presenceTtlMs + 5000
    let convergedMs = -1
    let wrong = 0
    const presenceDone = (async () => {
      while (Date.now() - killedAt < bound + 10_000) {
        await sleep(250)
        try {
          const truth = load.online()
          const p = await cluster.presence(users)
          wrong = p.filter((u, i) => truth[i] ? (u.status !== 'online' || u.connections !== 1) : u.status !== 'offline').length
          if (wrong === 0 && Date.now() - killedAt > 1000) { convergedMs = Date.now() - killedAt; return }
        } catch {}
      }
    })()
    await sleep(scale.afterS * 1000)
    await load.stopSending()
    await presenceDone
    marks.push(markAt(load.ledger, 'sending stopped'))
    const hist = await cluster.histories(load.roomIds)
    await load.settle(hist, 20_000)
    const a = load.ledger.analyse(hist)
    return {
      id: 'S1',
      title: 'SIGKILL one of three instances under load',
      load: `${scale.clients} clients (project client, websocket, via a round-robin TCP balancer), ${scale.rooms} rooms, ${scale.rate} msg/s for ${scale.beforeS + scale.afterS} s`,
      fault: `SIGKILL of instance 2 of 3 at t=${scale.beforeS} s; PRESENCE_TTL_MS=${scale.presenceTtlMs}`,
      checks: [
        ...ledgerChecks(a),
        check('presence converged after the kill (ms)', convergedMs < 0 ? `no (${wrong} wrong)` : convergedMs, `≤ PRESENCE_TTL_MS + 5 s = ${bound}`, convergedMs >= 0 && convergedMs <= bound)
      ],
      seconds: (Date.now() - started) / 1000,
      timeline: timelineOf(load.ledger),
      marks,
      notes: Object.entries(a.examples).map(([k, v]) => `${k}: ${v.join('; ')}`)
    }
  } finally {
    load.close()
    await cluster.close()
  }
}
