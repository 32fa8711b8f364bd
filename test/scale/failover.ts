/**
 * The failover scenario shared by the Cluster and Sentinel files: a sender on one instance sends
 * one message after another (each with its own clientMsgId) while a member on the other
 * instance listens; the primary holding the room is SIGKILLed mid-stream. It returns the ledger
 * of every send (answer, time to answer) so a test can assert the contract (SPEC §8: every
 * answer within 2 s, `unavailable` while Redis cannot take it, success again afterwards with no
 * restart) and count acknowledged messages that history lost.
 */
import type { Message } from '../../src/schemas/common.js'
import { ack, connect, collect, type ClientSocket } from '../helpers/socket.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { sleep } from '../helpers/net.js'

export interface Sent {
  clientMsgId: string
  /** epoch ms the send was emitted */
  at: number
  /** ms until its answer (or the client's 5 s timeout) */
  ms: number
  code: 'ok' | string
  message?: Message
}

export interface FailoverRun {
  sent: Sent[]
  killedAt: number
  /** kill → the first successful send emitted after it (ms) */
  failoverMs: number
  /** what the member on the other instance received, in order */
  received: Message[]
  sender: ClientSocket
  member: ClientSocket
}

export interface FailoverOptions {
  /** the instance the sender talks to, and the other one */
  senderUrl: string
  memberUrl: string
  roomId: string
  /** kills the primary that holds the room (resolves once it is dead) */
  kill: () => Promise<void>
  /** called once sends succeed again after the kill (e.g. restart the killed node as a replica) */
  afterRecovery?: () => Promise<void>
  /** ms of sending before the kill */
  beforeMs?: number
  /** successful sends wanted after the recovery */
  afterOks?: number
  /** give up this long after the kill */
  maxMs?: number
  label: string
}

async function send (s: ClientSocket, roomId: string, clientMsgId: string): Promise<Sent> {
  const at = Date.now()
  try {
    const r = await s.timeout(5000).emitWithAck('message:send', { roomId, text: clientMsgId, clientMsgId }) as { ok: boolean, message?: Message, error?: { code: string } }
    return { clientMsgId, at, ms: Date.now() - at, code: r.ok ? 'ok' : r.error?.code ?? 'unknown', ...(r.ok && { message: r.message }) }
  } catch {
    return { clientMsgId, at, ms: Date.now() - at, code: 'timeout' }
  }
}

export async function failoverRun (o: FailoverOptions): Promise<FailoverRun> {
  const sender = await connect(o.senderUrl, token({ sub: `${o.label}-sender` }))
  const member = await connect(o.memberUrl, token({ sub: `${o.label}-member` }))
  await ack(sender, 'room:join', { roomId: o.roomId })
  await ack(member, 'room:join', { roomId: o.roomId })
  const received = collect<Message>(member, 'message:new')
  const sent: Sent[] = []
  let n = 0
  const next = async (): Promise<Sent> => {
    const s = await send(sender, o.roomId, `${o.label}-${++n}`)
    sent.push(s)
    // a steady sender, not a flood: about 50 sends per second
    await sleep(20)
    return s
  }
  const start = Date.now()
  while (Date.now() - start < (o.beforeMs ?? 1000)) await next()
  const killedAt = Date.now()
  await o.kill()
  let failoverMs = -1
  let oks = 0
  let recovered = false
  while (Date.now() - killedAt < (o.maxMs ?? 30_000)) {
    const s = await next()
    if (s.code !== 'ok') { oks = 0; continue }
    if (failoverMs < 0) failoverMs = s.at - killedAt
    if (!recovered) {
      recovered = true
      await o.afterRecovery?.()
    }
    if (++oks >= (o.afterOks ?? 30)) break
  }
  return { sent, killedAt, failoverMs, received, sender, member }
}

/** Every message of a room in history (REST, oldest first). */
export async function roomHistory (url: string, roomId: string): Promise<Message[]> {
  const out: Message[] = []
  let after: string | undefined
  for (;;) {
    const q = after === undefined ? 'limit=100&after=0-0' : `limit=100&after=${after}`
    const r = await http(`${url}/v1/rooms/${roomId}/messages?${q}`, { token: token({ sub: 'reader' }) })
    if (r.status !== 200) throw new Error(`history failed: ${r.status} ${JSON.stringify(r.body)}`)
    out.push(...r.body.messages as Message[])
    if (r.body.hasMore !== true) return out
    after = out[out.length - 1].id
  }
}

/** Acked messages missing from history. */
export function lost (run: FailoverRun, history: Message[]): Sent[] {
  const kept = new Set(history.map(m => m.id))
  return run.sent.filter(s => s.code === 'ok' && !kept.has(s.message?.id ?? ''))
}

/** A one-line summary for the test log (and docs/scaling.md). */
export function summary (run: FailoverRun, history: Message[]): string {
  const codes = new Map<string, number>()
  for (const s of run.sent) codes.set(s.code, (codes.get(s.code) ?? 0) + 1)
  const slowest = Math.max(...run.sent.map(s => s.ms))
  return `sends ${run.sent.length} (${[...codes].map(([c, k]) => `${c} ${k}`).join(', ')}); slowest answer ${slowest} ms; ` +
    `kill → first successful send ${run.failoverMs} ms; acked but lost ${lost(run, history).length}`
}

/** p50 / p99 of the successful sends' answer times before the kill (ms) */
export function ackTimes (run: FailoverRun): string {
  const ms = run.sent.filter(s => s.code === 'ok' && s.at < run.killedAt).map(s => s.ms).sort((x, y) => x - y)
  const q = (p: number): number => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]
  return `p50 ${q(0.5)} ms, p99 ${q(0.99)} ms over ${ms.length} sequential sends`
}
