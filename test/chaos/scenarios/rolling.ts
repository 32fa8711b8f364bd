/**
 * Scenario 4: rolling restart of all three instances under load (SIGTERM, drain, start again on
 * the same port, next one once it is ready), clients behind a balancer that follows readiness.
 * Rules: every drain exits 0 within SHUTDOWN_GRACE_MS, and the ledger's: 0 acked missing,
 * 0 duplicates, 0 out of order, no client gives up, every client caught up.
 */
import { sleep } from '../../helpers/net.js'
import { Cluster } from '../lib/cluster.js'
import { Load } from '../lib/load.js'
import { check, ledgerChecks, markAt, timelineOf, type Scale, type ScenarioResult } from '../lib/report.js'

export async function rolling (scale: Scale): Promise<ScenarioResult> {
  const started = Date.now()
  const graceMs = 10_000
  const cluster = await Cluster.start({ instances: 3, env: { SHUTDOWN_GRACE_MS: String(graceMs) } })
  const load = new Load({ url: cluster.balancer.url, clients: scale.clients, rooms: scale.rooms, tag: `s4-${scale.seed}` })
  try {
    await load.start()
    const marks: NonNullable<ScenarioResult['marks']> = []
    load.startSending(scale.rate)
    await sleep(scale.beforeS * 1000)
    const exits: string[] = []
    const drains: number[] = []
    for (let i = 0; i < 3; i++) {
      marks.push(markAt(load.ledger, `SIGTERM ${i + 1}`))
      const old = cluster.servers[i]
      const t0 = Date.now()
      const stopped = old.stop('SIGTERM')
      const code = await stopped
      drains.push(Date.now() - t0)
      exits.push(String(code))
      await cluster.restart(i, 'SIGTERM')
      marks.push(markAt(load.ledger, `instance ${i + 1} ready`))
      await sleep(2000)
    }
    await sleep(scale.afterS * 1000)
    await load.stopSending()
    marks.push(markAt(load.ledger, 'sending stopped'))
    const hist = await cluster.histories(load.roomIds)
    await load.settle(hist, 20_000)
    const a = load.ledger.analyse(hist)
    return {
      id: 'S4',
      title: 'Rolling restart of three instances under load',
      load: `${scale.clients} clients via a readiness-following balancer, ${scale.rooms} rooms, ${scale.rate} msg/s`,
      fault: `SIGTERM, drain and restart of instance 1, 2, 3 in turn (SHUTDOWN_GRACE_MS=${graceMs})`,
      checks: [
        check('drain exit codes', exits.join(', '), '0, 0, 0', exits.every(e => e === '0')),
        check('drain durations (ms)', drains.join(', '), `each ≤ ${graceMs} + 1000`, drains.every(d => d <= graceMs + 1000)),
        ...ledgerChecks(a)
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
