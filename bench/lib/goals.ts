/**
 * Issue 11's goals (and the bench parts of issues 16 and 12) evaluated on a run's results: each
 * goal's figure (medians over repetitions, undisturbed ones when there are any), its threshold
 * and whether it is met. Pure functions over ScenarioResult; rendered into the console and the
 * generated part of BENCHMARKS.md. A goal whose figures the run did not produce (a scenario or
 * target left out, a step not reached) is "not measured", never met.
 */
import type { ScenarioResult } from './scenarios.js'
import { aggregate, type Table } from './stats.js'

export interface GoalResult {
  /** issue number it comes from */
  issue: number
  what: string
  /** the bar, as the issue words it */
  threshold: string
  /** the measured figures and their ratio, or why there is none */
  figure: string
  /** null: not measured in this run */
  met: boolean | null
  /** the ratio measured (num ÷ den), when there is one */
  ratio: number | null
}

/**
 * Median of one figure of one variant at one step over the repetitions, leaving out
 * repetitions disturbed by outside load when undisturbed ones exist (as the tables do).
 */
export function medianOf (scenarios: ScenarioResult[], scenario: string, variant: string, step: string, key: string): number | null {
  const s = scenarios.find((x) => x.name === scenario)
  if (s === undefined) return null
  const recs = s.reps.filter((r) => r.variant === variant).flatMap((r) => r.steps.filter((x) => x.step === step))
  const clean = recs.filter((x) => x.metrics.disturbed !== 1)
  return aggregate((clean.length > 0 ? clean : recs).map((x) => x.metrics[key]))?.median ?? null
}

/** Whether the figure of a variant at a step only has repetitions disturbed by outside load (or a saturated machine). */
export function disturbedOnly (scenarios: ScenarioResult[], scenario: string, variant: string, step: string): boolean {
  const recs = scenarios.find((x) => x.name === scenario)?.reps.filter((r) => r.variant === variant).flatMap((r) => r.steps.filter((x) => x.step === step)) ?? []
  return recs.length > 0 && recs.every((x) => x.metrics.disturbed === 1 || x.notes.some((n) => n.startsWith('machine saturated')))
}

/** The label of a scenario's first step, or of its last non-summary step. */
function stepOf (scenarios: ScenarioResult[], scenario: string, which: 'first' | 'last'): string | null {
  const steps = scenarios.find((x) => x.name === scenario)?.steps.filter((s) => s !== 'best') ?? []
  if (steps.length === 0) return null
  return which === 'first' ? steps[0] : steps[steps.length - 1]
}

function fmt (x: number, unit: string): string {
  const d = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2
  return `${x.toFixed(d)}${unit}`
}

interface RatioGoal {
  issue: number
  what: string
  scenario: string
  step: string | null
  key: string
  unit: string
  num: string
  den: string
  /** met when num ÷ den ≤ limit */
  limit: number
  threshold: string
}

function ratioGoal (scenarios: ScenarioResult[], g: RatioGoal): GoalResult {
  const base = { issue: g.issue, what: g.what, threshold: g.threshold }
  if (g.step === null) return { ...base, figure: `not measured (no ${g.scenario} scenario, or not its step, in this run)`, met: null, ratio: null }
  // results files from before issue 11 call the in-process Switchboard 'switchboard'
  const sb = scenarios.find((x) => x.name === g.scenario)?.variants.find((v) => v.id === 'switchboard')
  if ((g.num === 'switchboard' || g.den === 'switchboard') && sb !== undefined && sb.redis !== true) {
    return { ...base, figure: 'not measured (these results ran Switchboard in-process, not on Redis)', met: null, ratio: null }
  }
  const a = medianOf(scenarios, g.scenario, g.num, g.step, g.key)
  const b = medianOf(scenarios, g.scenario, g.den, g.step, g.key)
  if (a === null || b === null || b === 0) {
    const missing = [a === null ? g.num : null, b === null || b === 0 ? g.den : null].filter((x) => x !== null).join(', ')
    return { ...base, figure: `not measured (${missing} at ${g.step})`, met: null, ratio: null }
  }
  const ratio = a / b
  const disturbed = disturbedOnly(scenarios, g.scenario, g.num, g.step) || disturbedOnly(scenarios, g.scenario, g.den, g.step)
  return { ...base, figure: `${g.step}: ${fmt(a, g.unit)} vs ${fmt(b, g.unit)} = ${ratio.toFixed(2)}×${disturbed ? ' (disturbed: other load or a saturated machine)' : ''}`, met: ratio <= g.limit, ratio }
}

/** Every goal, in the order of the issues' text. */
export function evaluateGoals (scenarios: ScenarioResult[]): GoalResult[] {
  const small = stepOf(scenarios, 'small', 'first')
  const fanout = scenarios.find((x) => x.name === 'fanout')?.steps.includes('25 msg/s') === true ? '25 msg/s' : null
  const idleTop = stepOf(scenarios, 'idle', 'last')
  const storm = scenarios.find((x) => x.name === 'storm')?.steps.includes('storm') === true ? 'storm' : null
  const SB = 'switchboard'
  const ADAPTER = 'baseline-redis'
  const BARE = 'baseline'
  const goals: GoalResult[] = [
    ratioGoal(scenarios, { issue: 11, what: 'small rooms: server µs/delivery', scenario: 'small', step: small, key: 'usPerDelivery', unit: ' µs', num: SB, den: ADAPTER, limit: 1.0, threshold: '≤ 1.0× bare + redis adapter' }),
    ratioGoal(scenarios, { issue: 11, what: 'small rooms: p99 latency', scenario: 'small', step: small, key: 'p99Ms', unit: ' ms', num: SB, den: ADAPTER, limit: 1.5, threshold: '≤ 1.5× bare + redis adapter' }),
    ratioGoal(scenarios, { issue: 11, what: 'small rooms: redis µs/delivery', scenario: 'small', step: small, key: 'redisUsPerDelivery', unit: ' µs', num: SB, den: ADAPTER, limit: 1.2, threshold: '≤ 1.2× the adapter\'s' }),
    ratioGoal(scenarios, { issue: 11, what: 'fanout: server µs/delivery', scenario: 'fanout', step: fanout, key: 'usPerDelivery', unit: ' µs', num: SB, den: ADAPTER, limit: 1.05, threshold: '≤ 1.05× bare + redis adapter' }),
    ratioGoal(scenarios, { issue: 11, what: 'fanout: p99 at 25 msg/s', scenario: 'fanout', step: fanout, key: 'p99Ms', unit: ' ms', num: SB, den: BARE, limit: 1.2, threshold: '≤ 1.2× bare' }),
    ratioGoal(scenarios, { issue: 11, what: 'connections: server CPU per authenticated connect+join (storm)', scenario: 'storm', step: storm, key: 'connectUsPerConn', unit: ' µs', num: SB, den: BARE, limit: 1.5, threshold: '≤ 1.5× bare' }),
    ratioGoal(scenarios, { issue: 11, what: 'reconnect storm: time until all connected and joined', scenario: 'storm', step: storm, key: 'allConnectedS', unit: ' s', num: SB, den: BARE, limit: 2, threshold: '≤ 2× bare' }),
    refusedGoal(scenarios, storm),
    ratioGoal(scenarios, { issue: 11, what: 'idle RSS per connection', scenario: 'idle', step: idleTop, key: 'rssPerConnKiB', unit: ' KiB', num: SB, den: BARE, limit: 1.2, threshold: '≤ 1.2× bare' }),
    ratioGoal(scenarios, { issue: 11, what: 'moonshot (the next bar): small rooms server µs/delivery', scenario: 'small', step: small, key: 'usPerDelivery', unit: ' µs', num: SB, den: ADAPTER, limit: 0.8, threshold: '≤ 0.8× bare + redis adapter' }),
    // the sending path: the service's CPU less its archiver process's (issue 16 reports that apart)
    ratioGoal(scenarios, { issue: 16, what: 'small rooms with DATABASE_URL: server µs/delivery on the sending path (the archiver process\'s CPU excluded, reported below)', scenario: 'small', step: small, key: 'sendUsPerDelivery', unit: ' µs', num: 'switchboard-pg', den: SB, limit: 1.05, threshold: '≤ 1.05× without DATABASE_URL' }),
    archiverCpu(scenarios, small),
    ratioGoal(scenarios, { issue: 12, what: 'metrics\' hot-path cost: small rooms server µs/delivery, recording on vs off', scenario: 'small', step: small, key: 'usPerDelivery', unit: ' µs', num: SB, den: 'switchboard-nometrics', limit: 1.03, threshold: '≤ 1.03× with recording off' }),
    archiveThroughput(scenarios)
  ]
  return goals
}

function refusedGoal (scenarios: ScenarioResult[], storm: string | null): GoalResult {
  const base = { issue: 11, what: 'reconnect storm: handshakes refused or failed (no connection limit is configured)', threshold: '0', ratio: null }
  if (storm === null) return { ...base, figure: 'not measured (no storm scenario in this run)', met: null }
  const s = scenarios.find((x) => x.name === 'storm')
  const counts = (s?.reps ?? []).filter((r) => r.variant === 'switchboard').map((r) => r.steps.find((x) => x.step === storm)?.metrics.refused)
  const valid = counts.filter((x): x is number => typeof x === 'number')
  if (valid.length === 0) return { ...base, figure: 'not measured (switchboard did not reach the storm)', met: null }
  const total = valid.reduce((a, b) => a + b, 0)
  return { ...base, figure: `${total} over ${valid.length} repetition${valid.length > 1 ? 's' : ''}`, met: total === 0 }
}

/** The archiver process's own CPU in small rooms with DATABASE_URL (issue 16: reported separately), and the whole service's for comparison. */
function archiverCpu (scenarios: ScenarioResult[], small: string | null): GoalResult {
  const base = { issue: 16, what: 'small rooms with DATABASE_URL: the archiver process\'s CPU (reported, no bar)', threshold: 'reported', ratio: null, met: null }
  const us = small === null ? null : medianOf(scenarios, 'small', 'switchboard-pg', small, 'archiverUsPerMsg')
  if (small === null || us === null) return { ...base, figure: 'not measured (no switchboard-pg small-rooms step with an archiver process in this run)' }
  const whole = medianOf(scenarios, 'small', 'switchboard-pg', small, 'usPerDelivery')
  const without = medianOf(scenarios, 'small', 'switchboard', small, 'usPerDelivery')
  const total = whole !== null && without !== null && without > 0 ? `; whole service (archiver included) ${fmt(whole, ' µs')} vs ${fmt(without, ' µs')}/delivery = ${(whole / without).toFixed(2)}×` : ''
  const mainPg = medianOf(scenarios, 'small', 'switchboard-pg', small, 'mainUsPerDelivery')
  const mainSb = medianOf(scenarios, 'small', 'switchboard', small, 'mainUsPerDelivery')
  const main = mainPg !== null && mainSb !== null && mainSb > 0 ? `; main thread alone ${fmt(mainPg, ' µs')} vs ${fmt(mainSb, ' µs')} = ${(mainPg / mainSb).toFixed(2)}×` : ''
  return { ...base, figure: `${small}: ${fmt(us, ' µs')} CPU per message sent${total}${main}` }
}

function archiveThroughput (scenarios: ScenarioResult[]): GoalResult {
  const base = { issue: 16, what: 'archive throughput into PostgreSQL (reported, no bar)', threshold: 'reported', ratio: null }
  const v = medianOf(scenarios, 'archive', 'archive', 'drain', 'msgPerS')
  if (v === null) return { ...base, figure: 'not measured (no archive scenario in this run)', met: null }
  const cpu = medianOf(scenarios, 'archive', 'archive', 'drain', 'archiverUsPerMsg')
  const pgCpu = medianOf(scenarios, 'archive', 'archive', 'drain', 'pgUsPerMsg')
  const extra = [cpu !== null ? `archiver ${cpu.toFixed(1)} µs CPU/message` : null, pgCpu !== null ? `postgres ${pgCpu.toFixed(1)} µs CPU/message` : null].filter((x) => x !== null)
  return { ...base, figure: `${Math.round(v)} messages/s${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`, met: null }
}

/** The goals as a table for the console and BENCHMARKS.md. */
export function goalsTable (goals: GoalResult[], mode: 'quick' | 'full' = 'full'): Table {
  const notes = mode === 'quick' ? ['A quick (smoke) run: few sockets, short steps, one repetition. Its figures show that the harness works; they do not judge the goals.'] : []
  return {
    title: 'Goals (issues 11, 16, 12), from this run',
    columns: ['issue', 'goal', 'bar', 'figure (medians)', 'met?'],
    rows: goals.map((g) => [`#${g.issue}`, g.what, g.threshold, g.figure, g.met === null ? (g.threshold === 'reported' ? '–' : 'not measured') : g.met ? 'met' : `**not met** (${g.ratio !== null ? g.ratio.toFixed(2) + '×' : 'see figure'})`]),
    notes: [...notes, 'Ratios are Switchboard (on Redis, NODE_ENV=production) ÷ the named server, each a median over the repetitions; "small rooms" is the first small-rooms step (1 msg/s per client: 2,000 msg/s with 1,000 rooms of 2 in a full run).']
  }
}
