/**
 * Redis faults under load, one runner for scenarios 2 and 3:
 * - S2a/S2b: Redis killed (SIGKILL) and started again, without persistence and with AOF
 *   (`appendfsync always`);
 * - S3a: Redis frozen (SIGSTOP, then SIGCONT); S3b: the link to Redis stalled (a TCP proxy holds
 *   every byte); S3c: the link cut (every connection destroyed, new ones refused).
 * Rules: during the fault every send is answered `unavailable` within 2 s (measured raw by a
 * probe on one instance), readiness turns 503 within 1.5 s, nothing is half-written, sends
 * succeed again afterwards without restarting the service; a catch-up from before the fault
 * answers `recovered: false` when history was lost (never a silent gap); when Redis kept its
 * data nothing acked is missing and the catch-up is complete.
 */
import { io } from 'socket.io-client'
import { sleep } from '../../helpers/net.js'
import { token } from '../../helpers/tokens.js'
import { Cluster, watchReadiness } from '../lib/cluster.js'
import { Load } from '../lib/load.js'
import { startProbe } from '../lib/probe.js'
import { check, ledgerChecks, markAt, timelineOf, type Check, type Scale, type ScenarioResult } from '../lib/report.js'
import { compareIds } from '../../../src/client/index.js'

/** Client-side slack over the contract's 2 s server bound on a loaded 2-core machine. */
export const ACK_BOUND_MS = 2000
export const ACK_SLACK_MS = 500

/**
 * `room:join` with `since` on a fresh socket: what a reconnecting client would be told. An
 * `unavailable` answer (SPEC §4: nothing done, retry later) is retried after 500 ms, as a client
 * would, up to 10 times; `refused` counts the attempts so answered, which the scenario reports.
 */
export async function catchUp (url: string, roomId: string, since: string): Promise<{ recovered: boolean, missed: Array<{ id: string }>, hasMore: boolean, refused: string[] }> {
  const refused: string[] = []
  for (let attempt = 0; ; attempt++) {
    const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: token({ sub: 'chaos-catchup' }) } })
    const t0 = Date.now()
    try {
      const r = await s.timeout(5000).emitWithAck('room:join', { roomId, since })
      if (r.ok === true) return { ...r, refused }
      if (r.error?.code !== 'unavailable' || attempt >= 9) throw new Error(`catch-up join of ${roomId} since ${since}: ${JSON.stringify(r)} (after ${refused.length} refusals)`)
      refused.push(`${roomId}: unavailable after ${Date.now() - t0} ms (${String(r.error?.message)})`)
    } finally {
      s.close()
    }
    await sleep(500)
  }
}

export type RedisFault = 'kill' | 'kill-aof' | 'sigstop' | 'stall' | 'cut'

const FAULTS: Record<RedisFault, { id: string, title: string, fault: string }> = {
  kill: { id: 'S2a', title: 'Redis killed and restarted under load (no persistence)', fault: 'Redis SIGKILL, started again' },
  'kill-aof': { id: 'S2b', title: 'Redis killed and restarted under load (AOF, appendfsync always)', fault: 'Redis SIGKILL, started again' },
  sigstop: { id: 'S3a', title: 'Redis frozen (SIGSTOP) under load', fault: 'Redis SIGSTOP, then SIGCONT' },
  stall: { id: 'S3b', title: 'Link to Redis stalled (TCP proxy holds every byte) under load', fault: 'proxy stalls both directions, then forwards what it held' },
  cut: { id: 'S3c', title: 'Link to Redis cut (TCP proxy drops and refuses connections) under load', fault: 'proxy destroys every connection and refuses new ones, then accepts again' }
}

export async function redisFault (scale: Scale, kind: RedisFault): Promise<ScenarioResult> {
  const started = Date.now()
  const aof = kind === 'kill-aof'
  const historyLost = kind === 'kill'
  const f = FAULTS[kind]
  // the freeze lasts 5 s whatever the scale
  const outageS = kind === 'sigstop' ? 5 : scale.outageS
  const cluster = await Cluster.start({ instances: 2, aof, redisProxy: kind === 'stall' || kind === 'cut' })
  const load = new Load({ url: cluster.balancer.url, clients: scale.clients, rooms: scale.rooms, tag: `${f.id}-${scale.seed}` })
  const probeRoom = `${load.roomIds[0]}-probe`
  try {
    await load.start()
    const probe = await startProbe(cluster.servers[0].url, probeRoom, load.ledger)
    const ready = watchReadiness(cluster.servers.map(s => s.url))
    const marks: NonNullable<ScenarioResult['marks']> = []
    load.startSending(scale.rate)
    await sleep(scale.beforeS * 1000)
    // the last acked id of each room before the fault: a catch-up from there is checked after
    const before = new Map<string, string>()
    for (const s of load.ledger.sent.values()) {
      if (s.id !== undefined && (before.get(s.room) === undefined || compareIds(s.id, before.get(s.room) as string) > 0)) before.set(s.room, s.id)
    }
    const killedAt = Date.now()
    marks.push(markAt(load.ledger, 'fault'))
    const proxy = cluster.redisProxy
    if (kind === 'kill' || kind === 'kill-aof') await cluster.redis.kill()
    else if (kind === 'sigstop') cluster.redis.signal('SIGSTOP')
    else if (kind === 'stall') proxy?.stall(true)
    else { proxy?.refuse(true); proxy?.cut() }
    await sleep(outageS * 1000)
    const restartedAt = Date.now()
    if (kind === 'kill' || kind === 'kill-aof') await cluster.redis.start()
    else if (kind === 'sigstop') cluster.redis.signal('SIGCONT')
    else if (kind === 'stall') proxy?.stall(false)
    else proxy?.refuse(false)
    marks.push(markAt(load.ledger, 'healed'))
    await sleep(scale.afterS * 1000)
    await load.stopSending()
    const answers = probe.stop()
    const readiness = ready.stop()
    marks.push(markAt(load.ledger, 'sending stopped'))

    // raw answers to sends begun while Redis was down (the first 300 ms may still be in flight)
    const during = answers.filter(x => x.t > killedAt + 300 && x.t + x.ms < restartedAt && x.code !== 'disconnected')
    const bad = during.filter(x => x.code !== 'unavailable' || x.ms > ACK_BOUND_MS + ACK_SLACK_MS)
    const maxMs = Math.max(0, ...during.map(x => x.ms))
    const firstOk = answers.find(x => x.t >= restartedAt && x.code === 'ok')
    const not503 = readiness.filter(([t, , st]) => t > killedAt + 1500 && t < restartedAt && st === 200).length
    const first503 = cluster.servers.map((_, i) => readiness.find(([t, j, st]) => j === i && t >= killedAt && st !== 200)?.[0])
    const to503 = Math.max(...first503.map(t => t === undefined ? Infinity : t - killedAt))
    const hist = await cluster.histories([...load.roomIds, probeRoom])
    await load.settle(hist, 20_000)
    const a = load.ledger.analyse(hist)

    const catchUps: Check[] = []
    let dishonest = 0
    let incomplete = 0
    const refusals: string[] = []
    for (const [room, since] of before) {
      const r = await catchUp(cluster.liveUrl(), room, since)
      refusals.push(...r.refused)
      const lost = [...load.ledger.sent.values()].some(s => s.room === room && s.id !== undefined && compareIds(s.id, since) > 0 && !(hist.get(room) ?? []).some(m => m.id === s.id))
      if (r.recovered && lost) dishonest++
      // with everything kept, the catch-up (plus what hasMore pages on) starts right after `since`
      if (!historyLost && (!r.recovered || (r.missed.length > 0 && compareIds(r.missed[0].id, (hist.get(room) ?? []).find(m => compareIds(m.id, since) > 0)?.id ?? '0-0') !== 0))) incomplete++
    }
    catchUps.push(check('catch-ups answered unavailable once healed (retried after 500 ms)', refusals.length, 'counted', true))
    catchUps.push(check('catch-ups from before the fault answering recovered: true while messages were lost', `${dishonest} of ${before.size}`, '0 (never a silent gap)', dishonest === 0))
    if (!historyLost) catchUps.push(check('catch-ups from before the fault not recovered / not starting after since', `${incomplete} of ${before.size}`, '0', incomplete === 0))
    else catchUps.push(check('history lost by the restart (acked messages)', a.ackedMissingHistory, 'reported', true))

    return {
      id: f.id,
      title: f.title,
      load: `${scale.clients} clients, ${scale.rooms} rooms, ${scale.rate} msg/s; a raw probe sends every 250 ms to instance 1; 2 instances`,
      fault: `${f.fault}: at t=${scale.beforeS} s, for ${outageS} s`,
      checks: [
        ...ledgerChecks(a, { historyLost, inFlightLost: kind !== 'sigstop' }),
        check('probe answers during the outage: unavailable within bound', `${during.length - bad.length} of ${during.length}, max ${maxMs} ms`, `all unavailable, ≤ ${ACK_BOUND_MS} ms (+${ACK_SLACK_MS} ms client slack)`, during.length > 0 && bad.length === 0),
        check('first ok after the restart (ms, no service restart)', firstOk === undefined ? 'none' : firstOk.t + firstOk.ms - restartedAt, 'some ok', firstOk !== undefined),
        check('readiness 503 after the fault began (ms, slowest instance)', Number.isFinite(to503) ? to503 : 'never', '≤ 1500 (probed every 100 ms)', to503 <= 1500),
        check('readiness 200 more than 1.5 s into the fault', not503, '0', not503 === 0),
        ...catchUps
      ],
      seconds: (Date.now() - started) / 1000,
      timeline: timelineOf(load.ledger),
      marks,
      notes: [
        ...bad.slice(0, 5).map(x => `probe answer during outage: ${x.code} after ${x.ms} ms`),
        ...refusals.slice(0, 3).map(x => `catch-up refused: ${x}`),
        ...Object.entries(a.examples).map(([k, v]) => `${k}: ${v.join('; ')}`)
      ]
    }
  } finally {
    load.close()
    await cluster.close()
  }
}

/**
 * S3d: readiness of an idle instance when Redis freezes — the worst case, since no command times
 * out first to mark Redis away: only readiness' own PING can tell. Several freezes at random
 * phases of the readiness cache; each must turn /health/ready 503 within 1.5 s.
 */
export async function readinessIdle (scale: Scale): Promise<ScenarioResult> {
  const started = Date.now()
  const cluster = await Cluster.start({ instances: 1 })
  const trials = scale.mode === 'quick' ? 3 : 6
  const took: number[] = []
  try {
    for (let k = 0; k < trials; k++) {
      await sleep(1500 + Math.random() * 1000)
      const w = watchReadiness([cluster.servers[0].url], 50)
      await sleep(300)
      const t0 = Date.now()
      cluster.redis.signal('SIGSTOP')
      await sleep(3000)
      const seen = w.stop()
      cluster.redis.signal('SIGCONT')
      const first = seen.find(([t, , st]) => t >= t0 && st !== 200)
      took.push(first === undefined ? Infinity : first[0] - t0)
    }
  } finally {
    cluster.redis.signal('SIGCONT')
    await cluster.close()
  }
  return {
    id: 'S3d',
    title: 'Readiness of an idle instance when Redis freezes',
    load: 'none: one instance, /health/ready polled every 50 ms',
    fault: `Redis SIGSTOP for 3 s, ${trials} times at random moments`,
    checks: [check('SIGSTOP → first 503 (ms), each freeze', took.map(x => Number.isFinite(x) ? String(x) : 'never').join(', '), 'each ≤ 1500', took.every(x => x <= 1500))],
    seconds: (Date.now() - started) / 1000,
    notes: ['the worst case: an ok cached 250 ms before the freeze, then a PING that may wait 1 s (RELIABILITY.md F2)']
  }
}
