/**
 * Scenario 6: slow readers. Clients that stop reading (their TCP socket paused after joining)
 * sit in a room that floods with large messages, next to normal clients. Rules (SPEC §7): each
 * slow reader is disconnected once its outgoing buffer passes MAX_SOCKET_BUFFER_BYTES
 * (counted by `switchboard_slow_consumer_disconnects_total`), the instance's RSS stays under
 * start + slow readers × (limit + 1 MiB) + 64 MiB, the normal clients miss nothing and their p99
 * delivery latency stays within 3× (+ 50 ms) of the same flood without slow readers.
 */
import type { Socket as NetSocket } from 'node:net'
import { io, type Socket } from 'socket.io-client'
import WebSocket from 'ws'
import { sleep } from '../../helpers/net.js'
import { token } from '../../helpers/tokens.js'
import { Cluster, procStats } from '../lib/cluster.js'
import { check, type Scale, type ScenarioResult } from '../lib/report.js'

/** a grapheme of 8 UTF-8 bytes: 4000 of them are a 32 KB message within MESSAGE_MAX_LENGTH */
const BIG = '👍🏽'.repeat(4000)

async function metric (url: string, name: string): Promise<number> {
  let text = ''
  try {
    text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
  } catch {
    return NaN // a busy instance: asked again on the next round
  }
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) sum += Number(line.split(' ').pop())
  return sum
}

/** A raw Socket.IO connection that joins `room` and then stops reading (its TCP socket paused). */
async function slowReader (url: string, room: string, sub: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('slow reader: no join')), 10_000)
    ws.on('error', () => {})
    ws.on('message', (d) => {
      const s = d.toString()
      if (s.startsWith('0')) ws.send(`40${JSON.stringify({ token: token({ sub }, { ttlS: 3600 }) })}`)
      else if (s.startsWith('40')) ws.send(`421["room:join",{"roomId":"${room}"}]`)
      else if (s.startsWith('431')) { clearTimeout(timer); resolve() }
    })
  })
  ;(ws as unknown as { _socket: NetSocket })._socket.pause()
  return ws
}

function p99 (xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]
}

export async function slowReaders (scale: Scale): Promise<ScenarioResult> {
  const started = Date.now()
  // the contract's default (8 MiB) at full scale; 1 MiB below it, so a slow reader passes the
  // limit in seconds on a shared machine (kernel socket buffers hold several MB first)
  const limit = scale.mode === 'full' ? 8 * 1024 * 1024 : 1024 * 1024
  const cluster = await Cluster.start({ instances: 1, env: { MAX_SOCKET_BUFFER_BYTES: String(limit) } })
  const server = cluster.servers[0]
  const room = `s6-${scale.seed}`
  const normals: Socket[] = []
  const slow: WebSocket[] = []
  const rss: Array<{ s: number, v: number }> = []
  const sampler = setInterval(() => { const p = procStats(server.proc.pid); if (p !== undefined) rss.push({ s: (Date.now() - started) / 1000, v: p.rss / 2 ** 20 }) }, 250)
  try {
    const nNormal = Math.max(5, Math.min(25, Math.round(scale.clients / 10)))
    const lat: number[][] = [[], []]
    let phase = 0
    const got = new Array<number>(nNormal).fill(0)
    const drops: string[] = []
    for (let i = 0; i < nNormal; i++) {
      const s = io(server.url, { transports: ['websocket'], forceNew: true, auth: { token: token({ sub: `${room}-n${i}` }, { ttlS: 3600 }) } })
      await new Promise<void>((resolve) => s.once('connect', resolve))
      await s.timeout(5000).emitWithAck('room:join', { roomId: room })
      s.on('disconnect', (reason) => drops.push(`normal ${i}: ${reason}`))
      s.on('message:new', (m: { meta?: { t?: number } }) => { got[i]++; if (typeof m.meta?.t === 'number') lat[phase].push(Date.now() - m.meta.t) })
      normals.push(s)
    }
    const rss0 = procStats(server.proc.pid)?.rss ?? 0
    const rate = scale.mode === 'full' ? 50 : 20
    let sent = 0
    const flood = async (seconds: number, done: () => boolean = () => false): Promise<void> => {
      const end = Date.now() + seconds * 1000
      const pending: Array<Promise<unknown>> = []
      let inflight = 0
      while (Date.now() < end && !done()) {
        // at most 10 requests in flight: an instance that falls behind is not buried under more
        if (inflight >= 10) { await sleep(5); continue }
        const t = Date.now()
        inflight++
        pending.push(fetch(`${server.url}/v1/rooms/${room}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${cluster.service}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text: BIG, meta: { t } }),
          signal: AbortSignal.timeout(10_000)
        }).then(async r => { if (r.status === 201) sent++; await r.body?.cancel() }).catch(() => {}).finally(() => { inflight-- }))
        await sleep(1000 / rate)
      }
      await Promise.all(pending)
    }
    const floodS = scale.mode === 'quick' ? 6 : 10
    await flood(floodS / 2)
    await sleep(1000)
    phase = 1
    let before = NaN
    for (let k = 0; k < 5 && Number.isNaN(before); k++) before = await metric(server.url, 'switchboard_slow_consumer_disconnects_total')
    if (Number.isNaN(before)) before = 0 // a fresh instance, no slow reader yet
    for (let i = 0; i < scale.slowReaders; i++) slow.push(await slowReader(server.url, room, `${room}-slow${i}`))
    const slowAt = Date.now()
    let disconnected = 0
    let allGoneMs = -1
    // flood until every slow reader is gone (kernel buffers absorb a varying few MB first), at most 60 s
    const floodDone = flood(60, () => disconnected >= scale.slowReaders)
    while (Date.now() - slowAt < 70_000) {
      const now = await metric(server.url, 'switchboard_slow_consumer_disconnects_total') - before
      if (!Number.isNaN(now)) disconnected = now
      if (disconnected >= scale.slowReaders) { allGoneMs = Date.now() - slowAt; break }
      await sleep(250)
    }
    await floodDone
    // the normal clients drain what is still on its way to them
    // (what was stored counts, also a POST whose answer the flood stopped waiting for)
    const stored = (await cluster.history(room)).length
    const drainEnd = Date.now() + 30_000
    while (got.some(n => n < stored) && Date.now() < drainEnd) await sleep(200)
    const rssMax = Math.max(...rss.filter(p => p.s * 1000 + started >= slowAt).map(p => p.v))
    const bound = rss0 / 2 ** 20 + scale.slowReaders * (limit / 2 ** 20 + 1) + 64
    const [base, withSlow] = [p99(lat[0]), p99(lat[1])]
    const complete = got.every(n => n === stored)
    const slowTotal = await metric(server.url, 'switchboard_slow_consumer_disconnects_total')
    const alive = server.proc.exitCode === null
    return {
      id: 'S6',
      title: 'Slow readers in a flooding room',
      load: `${nNormal} normal clients and ${scale.slowReaders} readers that stop reading in one room; REST flood of 32 KB messages at ${rate}/s (${floodS / 2} s without slow readers, then with them until all are gone, at most 60 s); one instance`,
      fault: `readers' TCP sockets paused; MAX_SOCKET_BUFFER_BYTES=${limit}`,
      checks: [
        check('slow readers disconnected for their buffer', `${disconnected} of ${scale.slowReaders}${allGoneMs >= 0 ? `, all within ${allGoneMs} ms` : ''}`, 'all', disconnected >= scale.slowReaders),
        check('server RSS max with slow readers (MiB)', rssMax.toFixed(0), `≤ start + readers × (limit + 1 MiB) + 64 = ${bound.toFixed(0)}`, rssMax <= bound),
        check('normal clients: every message delivered', `${got.filter(n => n === stored).length} of ${nNormal} got all ${stored}`, 'all', complete),
        check('normal clients p99 delivery (ms): without / with slow readers', `${base.toFixed(0)} / ${withSlow.toFixed(0)}`, '≤ 3× + 50 ms', withSlow <= 3 * base + 50),
        check('server alive', alive, 'true', alive),
        check('normal clients disconnected', drops.length, '0', drops.length === 0)
      ],
      notes: [`messages stored ${stored} (${sent} answered 201 in time); normal clients got ${got.join(', ')}; slow-consumer disconnects in all ${slowTotal}`, ...drops.slice(0, 5)],
      seconds: (Date.now() - started) / 1000,
      series: { 'RSS MiB': rss }
    }
  } finally {
    clearInterval(sampler)
    for (const s of normals) s.close()
    for (const w of slow) w.terminate()
    await cluster.close()
  }
}
