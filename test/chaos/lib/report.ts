/** A scenario's result: what ran, the counts with their rules, and series for the charts. */
import type { Analysis, Ledger } from './ledger.js'

export interface Check { what: string, value: string, rule: string, pass: boolean }

export interface Scale {
  mode: 'quick' | 'medium' | 'full'
  clients: number
  rooms: number
  /** messages/s over all load clients */
  rate: number
  /** seconds of load before and after a fault */
  beforeS: number
  afterS: number
  /** seconds a fault (Redis down, frozen) lasts */
  outageS: number
  presenceTtlMs: number
  fuzzRuns: number
  slowReaders: number
  soakS: number
  seed: number
  /** known findings (waiting for a fix) fail too */
  strict: boolean
}

export interface ScenarioResult {
  id: string
  title: string
  load: string
  fault: string
  checks: Check[]
  seconds: number
  /** per-second timeline of the ledger (sends, acks, retries, deliveries) with fault marks */
  timeline?: Array<{ s: number, sent: number, acked: number, errors: number, delivered: number }>
  marks?: Array<{ s: number, label: string }>
  /** time series (soak, fuzz RSS): name → points */
  series?: Record<string, Array<{ s: number, v: number }>>
  notes?: string[]
}

export const passed = (r: ScenarioResult): boolean => r.checks.every(c => c.pass)

export function check (what: string, value: number | string | boolean, rule: string, pass: boolean): Check {
  return { what, value: String(value), rule, pass }
}

/** The ledger counts every scenario under load shares, each with its rule. */
/**
 * `inFlightLost`: the fault can lose a reply after Redis ran the command (Redis killed, the link
 * cut or stalled); the server cannot tell that from a command that never ran, answers
 * `unavailable`, and a retry with the same clientMsgId returns the message that landed (the load
 * clients' retries check that: acked id ≠ history id, duplicates). A frozen Redis runs a late
 * command after its deadline and writes nothing, so there half-written must be 0.
 */
export function ledgerChecks (a: Analysis, opts: { historyLost?: boolean, inFlightLost?: boolean } = {}): Check[] {
  const gaveUp = Object.entries(a.gaveUp).map(([k, v]) => `${k}: ${v}`).join(', ')
  const gaveUpN = Object.values(a.gaveUp).reduce((x, y) => x + y, 0)
  return [
    check('sends acked / started', `${a.acked} / ${a.sent}`, 'every send acked (retries with the same clientMsgId)', gaveUpN === 0),
    ...(gaveUpN > 0 ? [check('sends given up', gaveUp, '0', false)] : []),
    opts.historyLost === true
      ? check('acked, missing in history', a.ackedMissingHistory, 'reported (Redis lost its data); every loss told by recovered: false', true)
      : check('acked, missing in history', a.ackedMissingHistory, '0', a.ackedMissingHistory === 0),
    check('acked id ≠ history id', a.ackedIdMismatch, '0', a.ackedIdMismatch === 0),
    check('duplicates in history (clientMsgId)', a.historyDuplicates, '0', a.historyDuplicates === 0),
    opts.inFlightLost === true
      ? check('half-written (a probe send answered unavailable, yet in history)', a.halfWritten, 'reported: a reply lost in flight; the same clientMsgId returns it', true)
      : check('half-written (a probe send answered unavailable, yet in history)', a.halfWritten, '0', a.halfWritten === 0),
    check('unacked load sends found in history (an attempt timed out)', a.unackedInHistory, 'counted', true),
    check('history out of order', a.historyOutOfOrder, '0', a.historyOutOfOrder === 0),
    check('clients that gave up / not caught up', `${a.clientsGaveUp} of ${a.clients}`, '0', a.clientsGaveUp === 0),
    check('history messages missing at clients after catch-up', a.missingAtClients, '0', a.missingAtClients === 0),
    check('silent gaps (acked, lost, client not told)', a.silentGaps, '0', a.silentGaps === 0),
    check('duplicate deliveries (clientMsgId)', a.clientDuplicates, '0', a.clientDuplicates === 0),
    check('out-of-order deliveries', a.clientOutOfOrder, '0', a.clientOutOfOrder === 0),
    check('live message:new out of id order on a socket (raw)', a.rawOutOfOrder, 'counted (the client merges by id)', true),
    check('deliveries of messages nobody sent', a.foreignDeliveries, '0', a.foreignDeliveries === 0),
    check('recovered: false answers (honest)', `${a.recoveredFalse} (${a.recoveredFalseHonest})`, 'each honest or conservative; counted', true)
  ]
}

export function timelineOf (ledger: Ledger): NonNullable<ScenarioResult['timeline']> {
  const secs = [...ledger.timeline.keys()]
  const max = secs.length === 0 ? 0 : Math.max(...secs)
  return Array.from({ length: max + 1 }, (_, s) => ({ s, ...(ledger.timeline.get(s) ?? { sent: 0, acked: 0, errors: 0, delivered: 0 }) }))
}

export function markAt (ledger: Ledger, label: string, at = Date.now()): { s: number, label: string } {
  return { s: Math.round((at - ledger.t0) / 100) / 10, label }
}

export function renderText (r: ScenarioResult): string {
  const w = Math.max(...r.checks.map(c => c.what.length), 10)
  const lines = [`\n## ${r.id} ${r.title}  (${r.seconds.toFixed(0)} s)`, `load:  ${r.load}`, `fault: ${r.fault}`]
  for (const c of r.checks) lines.push(`  ${c.pass ? 'ok  ' : 'FAIL'} ${c.what.padEnd(w)}  ${c.value.padEnd(14)}  rule: ${c.rule}`)
  for (const n of r.notes ?? []) lines.push(`  note: ${n}`)
  return lines.join('\n')
}
