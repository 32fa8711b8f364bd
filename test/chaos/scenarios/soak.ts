/**
 * Scenario 7: soak. Steady load (ledger clients sending) plus churn (clients that connect,
 * join, subscribe to presence, read history and leave after a few seconds) on two instances for
 * `soakS` seconds. Sampled every few seconds per instance: RSS, V8 heap used, event-loop delay
 * p99 (prom-client's default metrics), open file descriptors, connections; Redis' connected
 * clients. Rules: RSS and event-loop delay slopes (Theil–Sen line over the run after the first
 * fifth) within their bounds, no file-descriptor or Redis-connection growth, and the ledger's.
 */
import { io, type Socket } from 'socket.io-client'
import { sleep } from '../../helpers/net.js'
import { token } from '../../helpers/tokens.js'
import { Cluster, procStats } from '../lib/cluster.js'
import { Load } from '../lib/load.js'
import { check, ledgerChecks, timelineOf, type Scale, type ScenarioResult } from '../lib/report.js'

/**
 * Theil–Sen slope (the median of the slopes between every pair of points, units of v per unit
 * of s): a line fit that a few spikes of a shared machine do not tilt, unlike least squares.
 */
export function slope (pts: Array<{ s: number, v: number }>): number {
  const ss: number[] = []
  for (let i = 0; i < pts.length; i++) {
    for (let j = i + 1; j < pts.length; j++) if (pts[j].s !== pts[i].s) ss.push((pts[j].v - pts[i].v) / (pts[j].s - pts[i].s))
  }
  if (ss.length === 0) return 0
  ss.sort((a, b) => a - b)
  const m = ss.length >> 1
  return ss.length % 2 === 1 ? ss[m] : (ss[m - 1] + ss[m]) / 2
}

/** slope of the least-squares line through the points (units of v per unit of s) */
export function leastSquares (pts: Array<{ s: number, v: number }>): number {
  const n = pts.length
  if (n < 2) return 0
  const mx = pts.reduce((a, p) => a + p.s, 0) / n
  const my = pts.reduce((a, p) => a + p.v, 0) / n
  let num = 0
  let den = 0
  for (const p of pts) { num += (p.s - mx) * (p.v - my); den += (p.s - mx) ** 2 }
  return den === 0 ? 0 : num / den
}

async function scrape (url: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
    for (const line of text.split('\n')) {
      const m = /^(nodejs_heap_size_used_bytes|nodejs_eventloop_lag_p99_seconds|switchboard_socket_connections)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line)
      if (m !== null) out[m[1]] = (out[m[1]] ?? 0) + Number(m[3])
    }
  } catch {}
  return out
}

export async function soak (scale: Scale): Promise<ScenarioResult> {
  const started = Date.now()
  const cluster = await Cluster.start({ instances: 2 })
  const load = new Load({ url: cluster.balancer.url, clients: scale.clients, rooms: scale.rooms, tag: `s7-${scale.seed}` })
  const series: Record<string, Array<{ s: number, v: number }>> = {}
  const add = (k: string, s: number, v: number): void => { if (Number.isFinite(v)) (series[k] ??= []).push({ s, v }) }
  const churning = new Set<Socket>()
  const state = { stop: false }
  let churned = 0
  try {
    await load.start()
    load.startSending(Math.max(1, Math.round(scale.rate / 2)))
    // churn: a new short-lived client every 1000 / churnPerS ms
    const churnPerS = Math.max(1, Math.round(scale.clients / 10))
    const churn = (async () => {
      let k = 0
      while (!state.stop) {
        const i = k++
        const s = io(cluster.balancer.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: token({ sub: `s7-churn-${i % 50}` }, { ttlS: 6 * 3600 }) } })
        churning.add(s)
        s.once('connect', () => {
          const room = load.roomIds[i % load.roomIds.length]
          s.emit('room:join', { roomId: room }, () => {
            s.emit('presence:subscribe', { userIds: [load.userId(i % scale.clients), load.userId((i + 1) % scale.clients)] }, () => {})
            s.emit('history:fetch', { roomId: room, limit: 20 }, () => {})
          })
        })
        setTimeout(() => { s.close(); churning.delete(s); churned++ }, 1000 + Math.random() * 4000)
        await sleep(1000 / churnPerS)
      }
    })()
    const stepMs = scale.soakS >= 300 ? 5000 : 2000
    const end = Date.now() + scale.soakS * 1000
    while (Date.now() < end) {
      const s = (Date.now() - started) / 1000
      for (const [i, srv] of cluster.servers.entries()) {
        const p = procStats(srv.proc.pid)
        const m = await scrape(srv.url)
        add(`RSS MiB (instance ${i + 1})`, s, (p?.rss ?? NaN) / 2 ** 20)
        add(`open fds (instance ${i + 1})`, s, p?.fds ?? NaN)
        add(`heap used MiB (instance ${i + 1})`, s, (m.nodejs_heap_size_used_bytes ?? NaN) / 2 ** 20)
        add(`event-loop delay p99 ms (instance ${i + 1})`, s, (m.nodejs_eventloop_lag_p99_seconds ?? NaN) * 1000)
        add(`connections (instance ${i + 1})`, s, m.switchboard_socket_connections ?? NaN)
      }
      const info = await cluster.redis.command(async r => await r.info('clients')).catch(() => '')
      add('Redis connected clients', s, Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? NaN))
      await sleep(stepMs)
    }
    state.stop = true
    await churn
    await load.stopSending()
    await sleep(6000) // churn clients gone, presence settled
    const hist = await cluster.histories(load.roomIds)
    await load.settle(hist, 20_000)
    const a = load.ledger.analyse(hist)
    // slopes after the first fifth (warm-up), per minute
    const warm = (pts: Array<{ s: number, v: number }>): Array<{ s: number, v: number }> => pts.filter(p => p.s >= pts[0].s + (pts[pts.length - 1].s - pts[0].s) / 5)
    const perMin = (k: string): number => slope(warm(series[k] ?? []).map(p => ({ s: p.s / 60, v: p.v })))
    const rssSlopes = cluster.servers.map((_, i) => perMin(`RSS MiB (instance ${i + 1})`))
    const eldSlopes = cluster.servers.map((_, i) => perMin(`event-loop delay p99 ms (instance ${i + 1})`))
    const fdGrowth = cluster.servers.map((_, i) => { const w = warm(series[`open fds (instance ${i + 1})`] ?? []); return w.length < 2 ? 0 : w[w.length - 1].v - w[0].v })
    const redisConns = warm(series['Redis connected clients'] ?? [])
    const redisGrowth = redisConns.length < 2 ? 0 : redisConns[redisConns.length - 1].v - redisConns[0].v
    const rssBound = 2
    const eldBound = 2
    // a line fitted to less than 5 minutes mostly measures warm-up and the machine's noise
    const judged = scale.soakS >= 300
    const cond = judged ? '' : ' (judged from 300 s of soak on; shorter runs only report)'
    return {
      id: 'S7',
      title: 'Soak: steady sends plus connect/disconnect churn',
      load: `${scale.clients} ledger clients at ${Math.max(1, Math.round(scale.rate / 2))} msg/s, plus ${churnPerS} new short-lived clients/s (join, presence:subscribe, history:fetch, leave after 1–5 s; ${churned} in all), ${scale.soakS} s, 2 instances`,
      fault: 'none (time)',
      checks: [
        check('RSS slope per instance (MiB/min, Theil–Sen, after warm-up)', rssSlopes.map(x => x.toFixed(2)).join(', '), `each ≤ ${rssBound}${cond}`, !judged || rssSlopes.every(x => x <= rssBound)),
        check('event-loop delay p99 slope (ms/min, Theil–Sen)', eldSlopes.map(x => x.toFixed(2)).join(', '), `each ≤ ${eldBound}${cond}`, !judged || eldSlopes.every(x => x <= eldBound)),
        check('open file descriptors, growth after warm-up', fdGrowth.join(', '), 'each ≤ 10', fdGrowth.every(x => x <= 10)),
        check('Redis connected clients, growth after warm-up', redisGrowth, '≤ 0', redisGrowth <= 0),
        ...ledgerChecks(a)
      ],
      seconds: (Date.now() - started) / 1000,
      timeline: timelineOf(load.ledger),
      series
    }
  } finally {
    state.stop = true
    for (const s of churning) s.close()
    load.close()
    await cluster.close()
  }
}
