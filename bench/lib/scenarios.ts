/**
 * The benchmark scenarios (idle, fanout, small rooms, cluster) and the loop that runs each
 * against every variant (Switchboard, baseline…) for several repetitions. Every step is
 * bounded in time; a failing variant is recorded as an error and the bench goes on.
 */
import { availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { cpuMsSum, machineBusyMs } from './proc.js'
import { WorkerPool, type ClientRef, type GlobalPublisher } from './pool.js'
import type { ClientSpec } from './protocol.js'
import { aggregate, fmtAgg, fmtRatio, type Agg, type MetricDef, type Table } from './stats.js'
import { startTarget, type Target, type TargetKind } from './targets.js'

/** One system under test in a scenario. */
export interface Variant {
  id: string
  label: string
  kind: TargetKind
  instances: number
  redis: boolean
}

export interface LoadTiming {
  /** send window per step */
  stepMs: number
  /** most wait for late deliveries after it */
  drainMs: number
  /** quiet time between steps */
  pauseMs: number
  /** unmeasured warm-up before the first step (JIT, connection buffers) */
  warmupMs: number
  /** a rising ladder stops at its first failing step; fixed rates run every step */
  stopOnFail: boolean
}

export interface Config {
  mode: 'quick' | 'full'
  reps: number
  workers: number
  /** length of every message text */
  textBytes: number
  /** handshakes in flight per worker */
  connectConcurrency: number
  connectTimeoutMs: number
  kinds: TargetKind[]
  scenarios: ScenarioName[]
  /** latency limit for a step to pass */
  p99LimitMs: number
  /** most time to wait before a step for the machine to be quiet (a shared box) */
  quietWaitMs: number
  /** times a step disturbed by outside load is measured again */
  disturbedRetries: number
  idle: { levels: number[], roomSize: number, settleMs: number }
  fanout: LoadTiming & { subscribers: number, publishers: number, rates: number[] }
  small: LoadTiming & { rooms: number, perClientRates: number[] }
  cluster: LoadTiming & { instances: number, subscribers: number, publishers: number, rates: number[], singleRedis: boolean }
}

export type ScenarioName = 'idle' | 'fanout' | 'small' | 'cluster'
export const SCENARIOS: ScenarioName[] = ['idle', 'fanout', 'small', 'cluster']

export interface Ctx {
  cfg: Config
  pool: WorkerPool
  secret: string
  log: (line: string) => void
}

export interface StepRecord {
  step: string
  metrics: Record<string, number | null>
  notes: string[]
}

export interface RepRecord {
  variant: string
  rep: number
  steps: StepRecord[]
  error: string | null
}

export interface ScenarioResult {
  name: ScenarioName
  title: string
  about: string
  variants: Variant[]
  metrics: MetricDef[]
  steps: string[]
  reps: RepRecord[]
  table: Table
}

interface ScenarioDef {
  name: ScenarioName
  title: string
  about: string
  variants: Variant[]
  metrics: MetricDef[]
  steps: string[]
  notes: string[]
  /** one repetition against a started target; clients are closed by the caller */
  runOnce: (ctx: Ctx, target: Target, variant: Variant) => Promise<StepRecord[]>
}

const SB: Variant = { id: 'switchboard', label: 'switchboard', kind: 'switchboard', instances: 1, redis: false }
const BASE: Variant = { id: 'baseline', label: 'baseline', kind: 'baseline', instances: 1, redis: false }

const LOAD_METRICS: MetricDef[] = [
  { key: 'sentPerS', label: 'sent msg/s', digits: 0, ratio: false },
  { key: 'deliveredPerS', label: 'delivered/s', digits: 0, ratio: true },
  { key: 'p50Ms', label: 'latency p50 ms', digits: 1, ratio: true },
  { key: 'p99Ms', label: 'latency p99 ms', digits: 1, ratio: true },
  { key: 'maxMs', label: 'latency max ms', digits: 1, ratio: true },
  { key: 'ackP99Ms', label: 'ack p99 ms', digits: 1, ratio: true },
  { key: 'loopP99Ms', label: 'server loop delay p99 ms', digits: 1, ratio: false },
  { key: 'loopMaxMs', label: 'server loop delay max ms', digits: 1, ratio: false },
  { key: 'usPerDelivery', label: 'server µs/delivery', digits: 2, ratio: true },
  { key: 'serverCpuPct', label: 'server CPU %', digits: 0, ratio: true },
  { key: 'redisCpuPct', label: 'redis CPU %', digits: 0, ratio: false },
  { key: 'clientCpuPct', label: 'client CPU %', digits: 0, ratio: false },
  { key: 'lost', label: 'lost', digits: 0, ratio: false },
  { key: 'pass', label: 'passed', digits: 0, ratio: false, pass: true },
  { key: 'maxOkRate', label: 'max msg/s passing', digits: 0, ratio: true }
]

const SUMMARY_STEP = 'best'

/** CPU % (of one core) outside the bench's processes above which a step is flagged as disturbed */
const OTHER_CPU_WARN_PCT = 30
/** machine CPU % (of one core) under which it counts as quiet before a step */
const QUIET_PCT = 25

/** Clients opened for a load scenario, with the room size every message fans out to. */
interface LoadPlan {
  specs: ClientSpec[]
  /** indices into specs of the publishers, with their room */
  publishers: Array<{ index: number, roomId: string }>
  roomSize: number
  /** offered total msg/s per step, with its label */
  steps: Array<{ label: string, offered: number }>
}

function errMsg (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function openClients (ctx: Ctx, target: Target, specs: ClientSpec[]): Promise<ClientRef[]> {
  const { refs, summary } = await ctx.pool.connect(target.urls, ctx.secret, specs, ctx.cfg.connectConcurrency, ctx.cfg.connectTimeoutMs)
  if (summary.failed > 0) {
    throw new Error(`${summary.failed} of ${specs.length} clients failed to connect/join: ${summary.errors.join('; ')}`)
  }
  return refs
}

/** One measured send window: CPU sampled around it, histograms merged from all workers. */
async function loadStep (ctx: Ctx, target: Target, pubs: GlobalPublisher[], roomSize: number, offered: number, timing: LoadTiming, runId: string): Promise<StepRecord> {
  const pids = target.serverPids
  const redisPids = target.redisPid === null ? [] : [target.redisPid]
  const s0 = cpuMsSum(pids)
  const c0 = cpuMsSum(ctx.pool.pids)
  const r0 = cpuMsSum(redisPids)
  const m0 = machineBusyMs()
  await target.loop()
  const t0 = performance.now()
  const r = await ctx.pool.run(runId, pubs, timing.stepMs, timing.drainMs, ctx.cfg.textBytes)
  const wallMs = performance.now() - t0
  // worst instance: a stall anywhere delays its share of the deliveries
  const loops = await target.loop()
  const serverMs = cpuMsSum(pids) - s0
  const clientMs = cpuMsSum(ctx.pool.pids) - c0
  const redisMs = cpuMsSum(redisPids) - r0
  // busy time of the machine not spent in our processes: kernel network work plus anything
  // else running; a large value means the step was disturbed
  const otherMs = machineBusyMs() - m0 - serverMs - clientMs - redisMs

  const expected = r.acked * roomSize
  const lost = Math.max(0, expected - r.received)
  const unacked = r.sent - r.acked - r.ackErrors
  const spanMs = Math.max(timing.stepMs, r.lastRecvAt - r.startAt)
  const p99Ms = r.latency.totalCount > 0 ? r.latency.getValueAtPercentile(99) / 1000 : null
  const clientBound = r.sent < 0.95 * offered * (timing.stepMs / 1000)
  const pass = p99Ms !== null && p99Ms < ctx.cfg.p99LimitMs && lost === 0 && r.ackErrors === 0 && unacked === 0 && r.disconnects === 0 && r.received > 0
  const notes: string[] = []
  if (r.ackErrors > 0) notes.push(`ack errors ${JSON.stringify(r.ackErrorCodes)}`)
  if (unacked > 0) notes.push(`${unacked} sends unacknowledged`)
  if (r.disconnects > 0) notes.push(`disconnects ${JSON.stringify(r.disconnectReasons)}`)
  if (clientBound) notes.push(`client-bound: sent ${r.sent} of ${Math.round(offered * timing.stepMs / 1000)} offered`)
  if (r.received > expected && expected > 0) notes.push(`received ${r.received - expected} more than expected`)
  const busyPct = ((serverMs + clientMs + redisMs + Math.max(0, otherMs)) / wallMs) * 100
  if (busyPct > 90 * availableParallelism()) notes.push(`machine saturated: ${busyPct.toFixed(0)}% CPU busy of ${availableParallelism() * 100}%`)
  const disturbed = (otherMs / wallMs) * 100 > OTHER_CPU_WARN_PCT
  if (disturbed) notes.push(`other load: ${((otherMs / wallMs) * 100).toFixed(0)}% CPU outside the bench's processes`)
  const ms = (v: number): number => v / 1000
  return {
    step: '',
    metrics: {
      offered,
      sentPerS: r.sent / (timing.stepMs / 1000),
      deliveredPerS: r.received / (spanMs / 1000),
      expected,
      received: r.received,
      lost,
      ackErrors: r.ackErrors,
      unacked,
      disconnects: r.disconnects,
      p50Ms: r.latency.totalCount > 0 ? ms(r.latency.getValueAtPercentile(50)) : null,
      p90Ms: r.latency.totalCount > 0 ? ms(r.latency.getValueAtPercentile(90)) : null,
      p99Ms,
      p999Ms: r.latency.totalCount > 0 ? ms(r.latency.getValueAtPercentile(99.9)) : null,
      maxMs: r.latency.totalCount > 0 ? ms(r.latency.maxValue) : null,
      ackP50Ms: r.ackLatency.totalCount > 0 ? ms(r.ackLatency.getValueAtPercentile(50)) : null,
      ackP99Ms: r.ackLatency.totalCount > 0 ? ms(r.ackLatency.getValueAtPercentile(99)) : null,
      loopP99Ms: Math.max(...loops.map((l) => l.p99Ms)),
      loopMaxMs: Math.max(...loops.map((l) => l.maxMs)),
      usPerDelivery: r.received > 0 ? (serverMs * 1000) / r.received : null,
      serverCpuPct: (serverMs / wallMs) * 100,
      clientCpuPct: (clientMs / wallMs) * 100,
      redisCpuPct: redisPids.length > 0 ? (redisMs / wallMs) * 100 : null,
      otherCpuPct: (otherMs / wallMs) * 100,
      clientBound: clientBound ? 1 : 0,
      disturbed: disturbed ? 1 : 0,
      pass: pass ? 1 : 0
    },
    notes
  }
}

let runSeq = 0

/**
 * Waits at least minMs, then until the machine is quiet (under QUIET_PCT of one core busy over
 * half a second: the server has worked off its backlog and nothing else is running), at most
 * minMs + maxWaitMs. Returns whether it got quiet.
 */
async function settle (minMs: number, maxWaitMs: number): Promise<boolean> {
  await sleep(minMs)
  const deadline = performance.now() + maxWaitMs
  while (performance.now() < deadline) {
    const b0 = machineBusyMs()
    const t0 = performance.now()
    await sleep(500)
    if (((machineBusyMs() - b0) / (performance.now() - t0)) * 100 < QUIET_PCT) return true
  }
  return false
}

/**
 * Connects the plan's clients, warms up, then walks the rate steps; a rising ladder stops at
 * the first step that fails (p99 over the limit, loss, errors), since higher rates only fail harder.
 */
async function runLadder (ctx: Ctx, target: Target, plan: LoadPlan, timing: LoadTiming, variant: Variant): Promise<StepRecord[]> {
  const refs = await openClients(ctx, target, plan.specs)
  const pubsAt = (offered: number): GlobalPublisher[] => plan.publishers.map((p) => ({
    client: refs[p.index], roomId: p.roomId, rate: offered / plan.publishers.length
  }))
  if (timing.warmupMs > 0 && plan.steps.length > 0) {
    await ctx.pool.run(`w${++runSeq}`, pubsAt(plan.steps[0].offered), timing.warmupMs, timing.drainMs, ctx.cfg.textBytes)
  }
  const out: StepRecord[] = []
  let best = 0
  for (const step of plan.steps) {
    // a step disturbed by load from outside the bench is measured again (bounded), so a
    // shared machine costs time rather than wrong figures
    let rec: StepRecord | null = null
    for (let attempt = 0; attempt <= ctx.cfg.disturbedRetries; attempt++) {
      const quiet = await settle(timing.pauseMs, ctx.cfg.quietWaitMs)
      rec = await loadStep(ctx, target, pubsAt(step.offered), plan.roomSize, step.offered, timing, `r${++runSeq}`)
      rec.step = step.label
      if (!quiet) rec.notes.push('machine was not quiet before the step')
      if (rec.metrics.disturbed !== 1) break
      if (attempt < ctx.cfg.disturbedRetries) ctx.log(`    ${variant.label} ${step.label}: disturbed (${fmt0(rec.metrics.otherCpuPct)}% CPU outside the bench), measuring again`)
    }
    if (rec === null) continue
    out.push(rec)
    const m = rec.metrics
    ctx.log(`    ${variant.label} ${step.label}: sent ${fmt0(m.sentPerS)}/s delivered ${fmt0(m.deliveredPerS)}/s p50 ${fmt1(m.p50Ms)} p99 ${fmt1(m.p99Ms)} max ${fmt1(m.maxMs)} ms, ${fmt1(m.usPerDelivery)} µs/deliv, srv ${fmt0(m.serverCpuPct)}% cli ${fmt0(m.clientCpuPct)}%, lost ${fmt0(m.lost)}${m.pass === 1 ? '' : ' FAIL'}${rec.notes.length > 0 ? ' — ' + rec.notes.join('; ') : ''}`)
    // a failure under outside load says little about the server: the ladder goes on
    if (m.pass === 1) best = Math.max(best, step.offered)
    else if (timing.stopOnFail && m.disturbed !== 1) break
  }
  out.push({ step: SUMMARY_STEP, metrics: { maxOkRate: best }, notes: [] })
  return out
}

function fmt0 (x: number | null | undefined): string {
  return typeof x === 'number' ? x.toFixed(0) : '–'
}

function fmt1 (x: number | null | undefined): string {
  return typeof x === 'number' ? x.toFixed(1) : '–'
}

/** Rooms of fanout: one room, subscribers + publishers all joined; clients spread over instances. */
function fanoutPlan (subscribers: number, publishers: number, rates: number[], instances: number, prefix: string): LoadPlan {
  const roomId = `${prefix}-room`
  const specs: ClientSpec[] = []
  // publishers first so that round-robin spreads them over the workers
  for (let i = 0; i < publishers; i++) specs.push({ url: i % instances, sub: `${prefix}-pub-${i}`, rooms: [roomId] })
  for (let i = 0; i < subscribers; i++) specs.push({ url: (publishers + i) % instances, sub: `${prefix}-sub-${i}`, rooms: [roomId] })
  return {
    specs,
    publishers: Array.from({ length: publishers }, (_, i) => ({ index: i, roomId })),
    roomSize: publishers + subscribers,
    steps: rates.map((r) => ({ label: `${r} msg/s`, offered: r }))
  }
}

function idleDef (cfg: Config, variants: Variant[]): ScenarioDef {
  const { levels, roomSize, settleMs } = cfg.idle
  return {
    name: 'idle',
    title: 'Idle connections',
    about: `authenticated idle sockets, each joined to one room of ${roomSize}; memory after a full GC and ${settleMs / 1000} s of settling, minus the freshly started server's`,
    variants,
    steps: levels.map((n) => `${n} conns`),
    metrics: [
      { key: 'rssPerConnKiB', label: 'RSS KiB/conn', digits: 1, ratio: true },
      { key: 'heapPerConnKiB', label: 'heap KiB/conn', digits: 1, ratio: true },
      { key: 'rssMiB', label: 'RSS MiB', digits: 0, ratio: true },
      { key: 'heapMiB', label: 'heap used MiB', digits: 1, ratio: true },
      { key: 'connectPerS', label: 'connect+join/s', digits: 0, ratio: true },
      { key: 'connectUsPerConn', label: 'server µs/connect+join', digits: 0, ratio: true },
      { key: 'idleCpuPct', label: 'idle server CPU %', digits: 1, ratio: false }
    ],
    notes: [
      `Levels are reached cumulatively on one server start (${levels.join(' → ')}); per connection = (memory at the level − fresh server) ÷ connections. The baseline ignores the token.`,
      'Memory is read inside the server by the bench preload (bench/probe.ts) right after two global.gc() calls (--expose-gc).'
    ],
    runOnce: async (ctx, target, variant) => {
      await sleep(settleMs)
      const m0 = await target.mem(0)
      const out: StepRecord[] = []
      let open = 0
      for (const n of levels) {
        const add: ClientSpec[] = []
        for (let i = open; i < n; i++) add.push({ url: 0, sub: `idle-${i}`, rooms: [`idle-room-${Math.floor(i / roomSize)}`] })
        const t0 = performance.now()
        const cc0 = cpuMsSum(target.serverPids)
        await openClients(ctx, target, add)
        const connectMs = performance.now() - t0
        const connectCpuMs = cpuMsSum(target.serverPids) - cc0
        open = n
        const c0 = cpuMsSum(target.serverPids)
        const w0 = performance.now()
        await sleep(settleMs)
        const idleCpuPct = ((cpuMsSum(target.serverPids) - c0) / (performance.now() - w0)) * 100
        const m = await target.mem(0)
        const rec: StepRecord = {
          step: `${n} conns`,
          metrics: {
            connections: n,
            rssPerConnKiB: (m.rss - m0.rss) / n / 1024,
            heapPerConnKiB: (m.heapUsed - m0.heapUsed) / n / 1024,
            rssMiB: m.rss / 2 ** 20,
            heapMiB: m.heapUsed / 2 ** 20,
            freshRssMiB: m0.rss / 2 ** 20,
            freshHeapMiB: m0.heapUsed / 2 ** 20,
            externalMiB: (m.external + m.arrayBuffers) / 2 ** 20,
            connectPerS: add.length / (connectMs / 1000),
            connectUsPerConn: (connectCpuMs * 1000) / add.length,
            idleCpuPct
          },
          notes: m.gc ? [] : ['gc not exposed: memory before GC']
        }
        out.push(rec)
        ctx.log(`    ${variant.label} ${n} conns: RSS ${(rec.metrics.rssMiB ?? 0).toFixed(0)} MiB (${(rec.metrics.rssPerConnKiB ?? 0).toFixed(1)} KiB/conn), heap ${(rec.metrics.heapMiB ?? 0).toFixed(1)} MiB (${(rec.metrics.heapPerConnKiB ?? 0).toFixed(1)} KiB/conn), ${(rec.metrics.connectPerS ?? 0).toFixed(0)} conn/s, idle CPU ${idleCpuPct.toFixed(1)}%`)
      }
      return out
    }
  }
}

function fanoutDef (cfg: Config, variants: Variant[]): ScenarioDef {
  const f = cfg.fanout
  const plan = fanoutPlan(f.subscribers, f.publishers, f.rates, 1, 'fan')
  return {
    name: 'fanout',
    title: `Fanout: 1 room × ${f.subscribers} subscribers, ${f.publishers} publishers`,
    about: `rising total send rate, ${f.stepMs / 1000} s per step; every message goes to ${plan.roomSize} sockets`,
    variants,
    steps: [...plan.steps.map((s) => s.label), SUMMARY_STEP],
    metrics: LOAD_METRICS,
    notes: ladderNotes(cfg),
    runOnce: async (ctx, target, variant) => await runLadder(ctx, target, plan, f, variant)
  }
}

function smallDef (cfg: Config, variants: Variant[]): ScenarioDef {
  const s = cfg.small
  const specs: ClientSpec[] = []
  for (let k = 0; k < s.rooms; k++) {
    specs.push({ url: 0, sub: `small-${k}-a`, rooms: [`small-${k}`] })
    specs.push({ url: 0, sub: `small-${k}-b`, rooms: [`small-${k}`] })
  }
  const plan: LoadPlan = {
    specs,
    publishers: specs.map((c, index) => ({ index, roomId: c.rooms[0] })),
    roomSize: 2,
    steps: s.perClientRates.map((r) => ({ label: `${r} msg/s/client`, offered: r * specs.length }))
  }
  return {
    name: 'small',
    title: `Small rooms: ${s.rooms} rooms × 2 members, everyone publishing`,
    about: `${specs.length} clients each sending at a fixed rate, ${s.stepMs / 1000} s per step; every message goes to 2 sockets`,
    variants,
    steps: [...plan.steps.map((x) => x.label), SUMMARY_STEP],
    metrics: LOAD_METRICS,
    notes: ladderNotes(cfg),
    runOnce: async (ctx, target, variant) => await runLadder(ctx, target, plan, s, variant)
  }
}

function clusterDef (cfg: Config, kinds: TargetKind[]): ScenarioDef {
  const c = cfg.cluster
  const variants: Variant[] = []
  if (kinds.includes('switchboard')) {
    variants.push({ id: 'switchboard-cluster', label: `switchboard ×${c.instances} + redis`, kind: 'switchboard', instances: c.instances, redis: true })
    if (c.singleRedis) variants.push({ id: 'switchboard-redis', label: 'switchboard ×1 + redis', kind: 'switchboard', instances: 1, redis: true })
  }
  if (kinds.includes('baseline')) variants.push(BASE)
  const plans = new Map(variants.map((v) => [v.id, fanoutPlan(c.subscribers, c.publishers, c.rates, v.instances, 'clu')]))
  const any = fanoutPlan(c.subscribers, c.publishers, c.rates, 1, 'clu')
  return {
    name: 'cluster',
    title: `Cluster: fanout over ${c.instances} Switchboard instances on one Redis`,
    about: `1 room × ${c.subscribers} subscribers + ${c.publishers} publishers, clients split evenly over the instances, fixed rates, ${c.stepMs / 1000} s per step; against one bare baseline instance`,
    variants,
    steps: [...any.steps.map((s) => s.label), SUMMARY_STEP],
    metrics: LOAD_METRICS,
    notes: [...ladderNotes(cfg), 'Server CPU and µs/delivery add up all Switchboard instances; redis CPU is shown apart.'],
    runOnce: async (ctx, target, variant) => await runLadder(ctx, target, plans.get(variant.id) ?? any, c, variant)
  }
}

function ladderNotes (cfg: Config): string[] {
  return [
    `A step passes when p99 < ${cfg.p99LimitMs} ms, nothing is lost (deliveries = acked sends × room size), no ack errors and no disconnects; a rising ladder stops at its first failing step. "max msg/s passing" is the highest passing step.`,
    'Latency is send → receive (wall clock across worker processes); server µs/delivery = server CPU time (utime+stime from /proc) over the step ÷ deliveries.'
  ]
}

/** Alternates the variant order between repetitions so neither always runs on a warmer machine. */
function orderFor<T> (items: T[], rep: number): T[] {
  return rep % 2 === 1 ? items : [...items].reverse()
}

async function runScenario (ctx: Ctx, def: ScenarioDef): Promise<ScenarioResult> {
  ctx.log(`\n[${def.name}] ${def.title}`)
  const reps: RepRecord[] = []
  for (let rep = 1; rep <= ctx.cfg.reps; rep++) {
    for (const v of orderFor(def.variants, rep)) {
      ctx.log(`  rep ${rep}/${ctx.cfg.reps} ${v.label}`)
      let target: Target | null = null
      try {
        target = await startTarget({ kind: v.kind, instances: v.instances, redis: v.redis, secret: ctx.secret })
        const steps = await def.runOnce(ctx, target, v)
        reps.push({ variant: v.id, rep, steps, error: null })
      } catch (err) {
        ctx.log(`    ${v.label} FAILED: ${errMsg(err)}`)
        reps.push({ variant: v.id, rep, steps: [], error: errMsg(err) })
      }
      try {
        await ctx.pool.disconnect()
      } catch (err) {
        // a worker is stuck or dead: replace the whole pool rather than trust it
        ctx.log(`    worker pool reset: ${errMsg(err)}`)
        await ctx.pool.close()
        ctx.pool = new WorkerPool(ctx.cfg.workers)
      }
      if (target !== null) await target.stop()
      await sleep(500)
    }
  }
  return {
    name: def.name,
    title: def.title,
    about: def.about,
    variants: def.variants,
    metrics: def.metrics,
    steps: def.steps,
    reps,
    table: buildTable(def, reps, ctx.cfg.reps)
  }
}

/** Step × figure rows, one column per variant, then Switchboard ÷ baseline ratio columns. */
function buildTable (def: ScenarioDef, reps: RepRecord[], nReps: number): Table {
  const base = def.variants.find((v) => v.kind === 'baseline')
  const others = def.variants.filter((v) => v !== base)
  const ratioCols = base === undefined ? [] : others
  const columns = ['step', 'figure', ...def.variants.map((v) => v.label),
    ...ratioCols.map((v) => (ratioCols.length > 1 ? `ratio ${v.label}` : `${v.label} / baseline`))]
  // measurements disturbed by outside load are left out when an undisturbed one exists
  let leftOut = 0
  // (a rep's summary counts as disturbed when any of its steps was)
  const recordsOf = (variant: string, step: string): StepRecord[] => {
    const all = reps.filter((r) => r.variant === variant).flatMap((r) => {
      const s = r.steps.find((x) => x.step === step)
      if (s === undefined) return []
      const disturbed = step === SUMMARY_STEP ? r.steps.some((x) => x.metrics.disturbed === 1) : s.metrics.disturbed === 1
      return [{ s, disturbed }]
    })
    const clean = all.filter((x) => !x.disturbed)
    return (clean.length > 0 ? clean : all).map((x) => x.s)
  }
  for (const v of def.variants) {
    for (const step of def.steps) {
      const n = reps.filter((r) => r.variant === v.id && r.steps.some((s) => s.step === step)).length
      leftOut += n - recordsOf(v.id, step).length
    }
  }
  const valuesOf = (variant: string, step: string, key: string): Array<number | null | undefined> =>
    recordsOf(variant, step).map((s) => s.metrics[key])
  const aggOf = (variant: string, step: string, key: string): Agg | null => aggregate(valuesOf(variant, step, key))
  // passed: how many repetitions that reached the step passed it
  const fmtPass = (variant: string, step: string): string => {
    const v = valuesOf(variant, step, 'pass').filter((x): x is number => typeof x === 'number')
    return v.length === 0 ? '–' : `${v.filter((x) => x === 1).length}/${v.length}`
  }
  const rows: string[][] = []
  for (const step of def.steps) {
    for (const m of def.metrics) {
      const aggs = def.variants.map((v) => aggOf(v.id, step, m.key))
      if (aggs.every((a) => a === null)) continue
      const cells = aggs.map((a, i) => (m.pass === true ? fmtPass(def.variants[i].id, step) : fmtAgg(a, m.digits)))
      const ratios = ratioCols.map((v) => (m.ratio && base !== undefined ? fmtRatio(aggOf(v.id, step, m.key), aggOf(base.id, step, m.key)) : ''))
      rows.push([step, m.label, ...cells, ...ratios])
    }
  }
  const notes = [def.about + '.', ...def.notes]
  if (nReps > 1) notes.push(`Cells: median (min–max) over ${nReps} repetitions; a step that was not reached in some repetition has fewer values.`)
  if (leftOut > 0) notes.push(`${leftOut} measurement${leftOut > 1 ? 's' : ''} disturbed by outside load (after retries) left out of the cells, which use the undisturbed repetitions of the same step; listed below as "other load".`)
  for (const r of reps) {
    if (r.error !== null) notes.push(`rep ${r.rep} ${r.variant} failed: ${r.error.split('\n')[0]}`)
    for (const s of r.steps) for (const n of s.notes) notes.push(`rep ${r.rep} ${r.variant} ${s.step}: ${n}`)
  }
  return { title: def.title, columns, rows, notes }
}

/** The scenario definitions selected by the config, in run order. */
export function selectScenarios (cfg: Config): ScenarioDef[] {
  const variants = [SB, BASE].filter((v) => cfg.kinds.includes(v.kind))
  const defs: Record<ScenarioName, () => ScenarioDef> = {
    idle: () => idleDef(cfg, variants),
    fanout: () => fanoutDef(cfg, variants),
    small: () => smallDef(cfg, variants),
    cluster: () => clusterDef(cfg, cfg.kinds)
  }
  return cfg.scenarios.map((n) => defs[n]())
}

/**
 * Recomputes the tables of saved results from their raw repetitions (the definitions follow
 * from the saved config), so a results file can be rendered again without re-measuring.
 */
export function retable (cfg: Config, results: ScenarioResult[]): void {
  const defs = selectScenarios(cfg)
  for (const r of results) {
    const def = defs.find((d) => d.name === r.name)
    if (def !== undefined) r.table = buildTable(def, r.reps, cfg.reps)
  }
}

export async function runAll (ctx: Ctx): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = []
  for (const def of selectScenarios(ctx.cfg)) out.push(await runScenario(ctx, def))
  return out
}
