/**
 * The benchmark scenarios (idle, fanout, small rooms, connect storm, cluster, archive) and the
 * loop that runs each against every variant (Switchboard on Redis in production mode, the bare
 * Socket.IO server with and without `@socket.io/redis-adapter`, and the extra Switchboard rows:
 * with the PostgreSQL archive, with metric recording off, in-process) for several repetitions.
 * Every step is bounded in time; a failing variant is recorded as an error and the bench goes on.
 */
import { spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { childCpuMs, cpuMsLive, cpuMsSum, machineBusyMs, mainThreadCpuMs } from './proc.js'
import { ARCHIVER_PROCESS_NAME } from '../../src/stores/redis/archiver-process.js'
import { WorkerPool, type ClientRef, type GlobalPublisher } from './pool.js'
import type { ClientSpec } from './protocol.js'
import { aggregate, fmtAgg, fmtRatio, type Agg, type MetricDef, type Table } from './stats.js'
import { ROOT, startTarget, type Target, type TargetKind } from './targets.js'
import { Progress } from './progress.js'

/** One system under test in a scenario. */
export interface Variant {
  id: string
  label: string
  kind: TargetKind
  instances: number
  redis: boolean
  /** Switchboard with NODE_ENV=production */
  production?: boolean
  /** Switchboard with DATABASE_URL (private PostgreSQL) */
  db?: boolean
  /** Switchboard with its hot-path metric recording off (bench/metrics-off.ts) */
  metricsOff?: boolean
}

/** What `--targets` names: the three servers of issue 11, and the extra Switchboard rows. */
export type TargetName = 'switchboard' | 'baseline-redis' | 'baseline' | 'switchboard-pg' | 'switchboard-nometrics' | 'switchboard-inproc'
export const TARGET_NAMES: TargetName[] = ['switchboard', 'baseline-redis', 'baseline', 'switchboard-pg', 'switchboard-nometrics', 'switchboard-inproc']
/** the default: everything but the in-process Switchboard (an extra row on request) */
export const DEFAULT_TARGETS: TargetName[] = ['switchboard', 'baseline-redis', 'baseline', 'switchboard-pg', 'switchboard-nometrics']

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
  /** a rising ladder runs every step up to this offered rate even when one fails (a goal is read there) */
  runAtLeastTo?: number
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
  /** targets (older results files say 'switchboard' for the in-process one) */
  kinds: TargetName[]
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
  /** connect storm: clients that all reconnect at once (as after a drain) */
  storm?: { clients: number, roomSize: number, timeoutMs: number, settleMs: number }
  /** the archive's own figures through bench/archive.ts */
  archive?: { rate: number, seconds: number, rooms: number, backlog: number }
}

export type ScenarioName = 'idle' | 'fanout' | 'small' | 'storm' | 'cluster' | 'archive'
export const SCENARIOS: ScenarioName[] = ['idle', 'fanout', 'small', 'storm', 'cluster', 'archive']

export interface Ctx {
  cfg: Config
  pool: WorkerPool
  secret: string
  log: (line: string) => void
  /** elapsed / expected, for the progress lines */
  progress?: Progress
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
  /** a scenario that starts what it needs itself (no target per variant) */
  standalone?: (ctx: Ctx) => Promise<StepRecord[]>
  /** the column every other variant's ratio is taken against (default: the bare+adapter, else the bare baseline) */
  reference?: string
}

/** Switchboard as it runs in production (issue 11): on Redis, NODE_ENV=production. */
export const SB: Variant = { id: 'switchboard', label: 'switchboard + redis', kind: 'switchboard', instances: 1, redis: true, production: true }
export const SB_PG: Variant = { id: 'switchboard-pg', label: 'switchboard + redis + pg archive', kind: 'switchboard', instances: 1, redis: true, production: true, db: true }
export const SB_NOMETRICS: Variant = { id: 'switchboard-nometrics', label: 'switchboard + redis, metrics off', kind: 'switchboard', instances: 1, redis: true, production: true, metricsOff: true }
export const SB_INPROC: Variant = { id: 'switchboard-inproc', label: 'switchboard in-process', kind: 'switchboard', instances: 1, redis: false, production: true }
export const BASE_REDIS: Variant = { id: 'baseline-redis', label: 'bare + redis adapter', kind: 'baseline', instances: 1, redis: true }
export const BASE: Variant = { id: 'baseline', label: 'bare socket.io', kind: 'baseline', instances: 1, redis: false }
const ALL_VARIANTS: Record<TargetName, Variant> = {
  switchboard: SB, 'baseline-redis': BASE_REDIS, baseline: BASE, 'switchboard-pg': SB_PG, 'switchboard-nometrics': SB_NOMETRICS, 'switchboard-inproc': SB_INPROC
}
/** the variants only the small-rooms scenario runs (issues 16 and 12 measure their cost there) */
const SMALL_ONLY = new Set<string>([SB_PG.id, SB_NOMETRICS.id])

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
  { key: 'sendUsPerDelivery', label: 'server µs/delivery, sending path (archiver process excluded)', digits: 2, ratio: true },
  { key: 'archiverUsPerMsg', label: 'archiver process µs/message', digits: 1, ratio: false },
  { key: 'mainUsPerDelivery', label: 'server main thread (event loop) µs/delivery', digits: 2, ratio: true },
  { key: 'serverCpuPct', label: 'server CPU %', digits: 0, ratio: true },
  { key: 'redisCpuPct', label: 'redis CPU %', digits: 0, ratio: false },
  { key: 'redisUsPerDelivery', label: 'redis µs/delivery', digits: 2, ratio: true },
  { key: 'pgCpuPct', label: 'postgres CPU %', digits: 0, ratio: false },
  { key: 'eventsCounted', label: 'message:send counted in /metrics', digits: 0, ratio: false },
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
  const pgPids = await target.pgPids()
  const s0 = cpuMsSum(pids)
  const a0 = childCpuMs(pids, ARCHIVER_PROCESS_NAME)
  const e0 = mainThreadCpuMs(pids)
  const c0 = cpuMsSum(ctx.pool.pids)
  const r0 = cpuMsSum(redisPids)
  const p0 = cpuMsLive(pgPids)
  const ri0 = await target.redisCpuMs()
  const m0 = machineBusyMs()
  await target.loop()
  const t0 = performance.now()
  const r = await ctx.pool.run(runId, pubs, timing.stepMs, timing.drainMs, ctx.cfg.textBytes)
  const wallMs = performance.now() - t0
  // worst instance: a stall anywhere delays its share of the deliveries
  const loops = await target.loop()
  // the archiver's own process (issue 16, a child of each instance): batch work off the sockets'
  // process, reported apart; the server's CPU is the whole service's, the archiver's included
  const a1 = childCpuMs(pids, ARCHIVER_PROCESS_NAME)
  const hasArchiver = a0 !== null && a1 !== null
  const archiverMs = hasArchiver ? a1 - a0 : 0
  const serverMs = cpuMsSum(pids) - s0 + archiverMs
  const loopMs = mainThreadCpuMs(pids) - e0
  const clientMs = cpuMsSum(ctx.pool.pids) - c0
  const redisMs = cpuMsSum(redisPids) - r0
  // Redis' own account of its CPU (INFO cpu), the figure issue 11 compares
  const redisInfoMs = (await target.redisCpuMs()) - ri0
  const pgMs = cpuMsLive(pgPids) - p0
  // busy time of the machine not spent in our processes: kernel network work plus anything
  // else running; a large value means the step was disturbed
  const otherMs = machineBusyMs() - m0 - serverMs - clientMs - redisMs - pgMs

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
  const busyPct = ((serverMs + clientMs + redisMs + pgMs + Math.max(0, otherMs)) / wallMs) * 100
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
      sendUsPerDelivery: r.received > 0 ? ((serverMs - archiverMs) * 1000) / r.received : null,
      archiverUsPerMsg: hasArchiver && r.acked > 0 ? (archiverMs * 1000) / r.acked : null,
      mainUsPerDelivery: r.received > 0 && Number.isFinite(loopMs) ? (loopMs * 1000) / r.received : null,
      serverCpuPct: (serverMs / wallMs) * 100,
      clientCpuPct: (clientMs / wallMs) * 100,
      redisCpuPct: redisPids.length > 0 ? (redisMs / wallMs) * 100 : null,
      redisUsPerDelivery: Number.isFinite(redisInfoMs) && r.received > 0 ? (redisInfoMs * 1000) / r.received : null,
      pgCpuPct: pgPids.length > 0 ? (pgMs / wallMs) * 100 : null,
      pgUsPerMessage: pgPids.length > 0 && r.acked > 0 ? (pgMs * 1000) / r.acked : null,
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
  // a step counts for "max msg/s passing" only when no lower step failed (runAtLeastTo goes on past a failure)
  let failed = false
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
    ctx.log(`    ${tag(ctx)}${variant.label} ${step.label}: sent ${fmt0(m.sentPerS)}/s delivered ${fmt0(m.deliveredPerS)}/s p50 ${fmt1(m.p50Ms)} p99 ${fmt1(m.p99Ms)} max ${fmt1(m.maxMs)} ms, ${fmt1(m.usPerDelivery)} µs/deliv, srv ${fmt0(m.serverCpuPct)}% cli ${fmt0(m.clientCpuPct)}%, lost ${fmt0(m.lost)}${m.pass === 1 ? '' : ' FAIL'}${rec.notes.length > 0 ? ' — ' + rec.notes.join('; ') : ''}`)
    // a failure under outside load says little about the server: the ladder goes on
    if (m.pass === 1) {
      if (!failed) best = Math.max(best, step.offered)
    } else if (m.disturbed !== 1) {
      failed = true
      if (timing.stopOnFail && step.offered >= (timing.runAtLeastTo ?? 0)) break
    }
  }
  out.push({ step: SUMMARY_STEP, metrics: { maxOkRate: best, eventsCounted: await sendsCounted(target) }, notes: [] })
  return out
}

/** `[elapsed / ~expected]` for the progress lines, or nothing without a Progress. */
function tag (ctx: Ctx): string {
  return ctx.progress === undefined ? '' : `[${ctx.progress.line()}] `
}

/**
 * message:send events Switchboard's /metrics counted (ok), summed over instances; null for the
 * baseline. Shows that the metrics-off switch took (0) and the default counts (> 0).
 */
async function sendsCounted (target: Target): Promise<number | null> {
  if (target.kind !== 'switchboard') return null
  let sum = 0
  for (let i = 0; i < target.urls.length; i++) {
    try {
      sum += countOf(await target.metricsText(i), 'switchboard_socket_events_total', { event: 'message:send', result: 'ok' })
    } catch {
      return null
    }
  }
  return sum
}

/** The value of one series in a Prometheus text exposition (0 when absent). */
export function countOf (text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue
    const close = line.lastIndexOf('}')
    const body = line.slice(name.length + 1, close)
    const ok = Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))
    if (ok) return Number(line.slice(close + 1).trim())
  }
  return 0
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

function clusterDef (cfg: Config, kinds: TargetName[]): ScenarioDef {
  const c = cfg.cluster
  const variants: Variant[] = []
  if (kinds.includes('switchboard')) {
    variants.push({ id: 'switchboard-cluster', label: `switchboard ×${c.instances} + redis`, kind: 'switchboard', instances: c.instances, redis: true, production: true })
    if (c.singleRedis) variants.push({ id: 'switchboard-redis', label: 'switchboard ×1 + redis', kind: 'switchboard', instances: 1, redis: true, production: true })
  }
  if (kinds.includes('baseline-redis')) variants.push({ id: 'baseline-redis-cluster', label: `bare ×${c.instances} + redis adapter`, kind: 'baseline', instances: c.instances, redis: true })
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
    notes: [...ladderNotes(cfg), 'Server CPU and µs/delivery add up all instances of a variant; redis CPU is shown apart.'],
    reference: BASE.id,
    runOnce: async (ctx, target, variant) => await runLadder(ctx, target, plans.get(variant.id) ?? any, c, variant)
  }
}

/** Storm defaults for results files written before the scenario existed. */
const STORM_DEFAULT = { clients: 300, roomSize: 10, timeoutMs: 20_000, settleMs: 1500 }

/**
 * Connect storm (issue 11): N authenticated clients connect and join, paced (a bounded number of
 * handshakes in flight per worker); then all disconnect and, once the server is quiet, all
 * reconnect at once, as after a drain. Every refusal or failure is counted by its reason; the
 * bench sets no connection limit, so none is expected.
 */
function stormDef (cfg: Config, variants: Variant[]): ScenarioDef {
  const st = cfg.storm ?? STORM_DEFAULT
  const specs: ClientSpec[] = Array.from({ length: st.clients }, (_, i) => ({ url: 0, sub: `storm-${i}`, rooms: [`storm-room-${Math.floor(i / st.roomSize)}`] }))
  const connectStep = async (ctx: Ctx, target: Target, label: string, concurrency: number): Promise<StepRecord> => {
    const pids = target.serverPids
    const s0 = cpuMsSum(pids)
    const ri0 = await target.redisCpuMs()
    await target.loop()
    const t0 = performance.now()
    const { summary } = await ctx.pool.connect(target.urls, ctx.secret, specs, concurrency, st.timeoutMs)
    const ms = performance.now() - t0
    const serverMs = cpuMsSum(pids) - s0
    const redisMs = (await target.redisCpuMs()) - ri0
    const loops = await target.loop()
    const notes = Object.keys(summary.errorCounts).length > 0 ? [`failed: ${JSON.stringify(summary.errorCounts)}`] : []
    return {
      step: label,
      metrics: {
        clients: specs.length,
        connected: summary.ok,
        allConnectedS: summary.failed === 0 ? ms / 1000 : null,
        connectPerS: summary.ok / (ms / 1000),
        connectUsPerConn: summary.ok > 0 ? (serverMs * 1000) / summary.ok : null,
        redisUsPerConn: Number.isFinite(redisMs) && summary.ok > 0 ? (redisMs * 1000) / summary.ok : null,
        refused: summary.failed,
        loopMaxMs: Math.max(...loops.map((l) => l.maxMs))
      },
      notes
    }
  }
  return {
    name: 'storm',
    title: `Connect storm: ${st.clients} clients reconnecting at once`,
    about: `${st.clients} authenticated clients, each joining one room of ${st.roomSize}: first paced (${cfg.connectConcurrency} handshakes in flight per worker), then all disconnected and, once the server is quiet, all reconnecting at once (as after a drain)`,
    variants,
    steps: ['paced connect', 'storm'],
    metrics: [
      { key: 'allConnectedS', label: 'time to connect+join all s', digits: 2, ratio: true },
      { key: 'connectPerS', label: 'connect+join/s', digits: 0, ratio: true },
      { key: 'connectUsPerConn', label: 'server µs/connect+join', digits: 0, ratio: true },
      { key: 'redisUsPerConn', label: 'redis µs/connect+join', digits: 0, ratio: true },
      { key: 'loopMaxMs', label: 'server loop delay max ms', digits: 1, ratio: false },
      { key: 'refused', label: 'refused or failed', digits: 0, ratio: false }
    ],
    notes: [
      'Time to connect+join all: from the runner\'s command to the last join acknowledgement of every worker; empty when any client failed (counted in "refused or failed", reasons below). The bench sets no connection limit (RATE_LIMIT_CONNECTIONS_PER_10S=0), so every refusal counts against the goal.',
      'Server µs/connect+join: server CPU (utime+stime from /proc) during the phase ÷ clients connected; redis µs from Redis\' INFO cpu.'
    ],
    runOnce: async (ctx, target, variant) => {
      const paced = await connectStep(ctx, target, 'paced connect', ctx.cfg.connectConcurrency)
      ctx.log(`    ${tag(ctx)}${variant.label} paced: ${fmt1((paced.metrics.allConnectedS ?? Number.NaN))} s, ${fmt0(paced.metrics.connectUsPerConn)} µs/conn, failed ${fmt0(paced.metrics.refused)}`)
      await ctx.pool.disconnect()
      await settle(st.settleMs, ctx.cfg.quietWaitMs)
      // every client's handshake in flight at once
      const storm = await connectStep(ctx, target, 'storm', Math.ceil(specs.length / ctx.pool.size))
      ctx.log(`    ${tag(ctx)}${variant.label} storm: ${fmt1((storm.metrics.allConnectedS ?? Number.NaN))} s, ${fmt0(storm.metrics.connectUsPerConn)} µs/conn, failed ${fmt0(storm.metrics.refused)}${storm.notes.length > 0 ? ' — ' + storm.notes.join('; ') : ''}`)
      return [paced, storm]
    }
  }
}

const ARCHIVE_DEFAULT = { rate: 200, seconds: 3, rooms: 20, backlog: 3000 }
const ARCHIVER: Variant = { id: 'archive', label: 'archiver → postgres', kind: 'switchboard', instances: 1, redis: true, db: true }

/**
 * The archive's own figures (issue 16) from bench/archive.ts, run as a child with `--json`: lag
 * under a steady send load, and throughput draining a backlog, with the archiver's own CPU (its
 * process does nothing else while draining) and PostgreSQL's and Redis' CPU per message.
 */
function archiveDef (cfg: Config): ScenarioDef {
  const a = cfg.archive ?? ARCHIVE_DEFAULT
  return {
    name: 'archive',
    title: 'Archive: Redis streams → PostgreSQL',
    about: `bench/archive.ts on its own Redis and PostgreSQL: lag under ${a.rate} msg/s over ${a.rooms} rooms for ${a.seconds} s, then a backlog of ${a.backlog} messages over 100 rooms drained`,
    variants: [ARCHIVER],
    steps: ['lag', 'drain'],
    metrics: [
      { key: 'lagP99', label: 'lag gauge p99 messages', digits: 0, ratio: false },
      { key: 'ackArchivedP99Ms', label: 'ack → archived p99 ms', digits: 0, ratio: false },
      { key: 'msgPerS', label: 'archived msg/s', digits: 0, ratio: false },
      { key: 'archiverUsPerMsg', label: 'archiver CPU µs/message', digits: 1, ratio: false },
      { key: 'pgUsPerMsg', label: 'postgres CPU µs/message', digits: 1, ratio: false },
      { key: 'redisUsPerMsg', label: 'redis CPU µs/message', digits: 1, ratio: false }
    ],
    notes: [
      'The archiver is the same class Switchboard runs (src/stores/redis/archiver.ts), driven alone in the bench\'s process, so its CPU while draining (process.cpuUsage) is the archiver\'s own; in a Switchboard process it is part of the server CPU of the small-rooms row "switchboard + redis + pg archive".'
    ],
    runOnce: async () => { throw new Error('archive runs standalone') },
    standalone: async (ctx): Promise<StepRecord[]> => {
      const out = await runArchiveScript(a)
      ctx.log(`    ${tag(ctx)}archive: ${JSON.stringify(out)}`)
      return [
        { step: 'lag', metrics: { lagP99: out.lagP99 ?? null, ackArchivedP99Ms: out.ackArchivedP99Ms ?? null }, notes: [] },
        { step: 'drain', metrics: { msgPerS: out.msgPerS ?? null, archiverUsPerMsg: out.archiverUsPerMsg ?? null, pgUsPerMsg: out.pgUsPerMsg ?? null, redisUsPerMsg: out.redisUsPerMsg ?? null }, notes: [] }
      ]
    }
  }
}

const ARCHIVE_MARK = 'archive-figures: '

/** Runs bench/archive.ts --json and parses its figures line; at most 5 minutes. */
async function runArchiveScript (a: { rate: number, seconds: number, rooms: number, backlog: number }): Promise<Record<string, number>> {
  const args = ['--import=tsx', `${ROOT}bench/archive.ts`, '--json', '--rate', String(a.rate), '--seconds', String(a.seconds), '--rooms', String(a.rooms), '--backlog', String(a.backlog)]
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '' } })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      const line = out.split('\n').find((l) => l.startsWith(ARCHIVE_MARK))
      try {
        if (code !== 0) throw new Error(`exit ${String(code)}`)
        if (line === undefined) throw new Error('no figures line')
        resolve(JSON.parse(line.slice(ARCHIVE_MARK.length)) as Record<string, number>)
      } catch (e) {
        reject(new Error(`bench/archive.ts failed (${errMsg(e)}): ${(err || out).slice(-600)}`))
      }
    })
  })
}

function ladderNotes (cfg: Config): string[] {
  return [
    `A step passes when p99 < ${cfg.p99LimitMs} ms, nothing is lost (deliveries = acked sends × room size), no ack errors and no disconnects; a rising ladder stops at its first failing step (the fanout ladder runs at least to 25 msg/s, issue 11's goal step). "max msg/s passing" is the highest passing step with no failing step below it.`,
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
      ctx.log(`  ${tag(ctx)}${def.name} rep ${rep}/${ctx.cfg.reps} ${v.label}`)
      if (def.standalone !== undefined) {
        try {
          reps.push({ variant: v.id, rep, steps: await def.standalone(ctx), error: null })
        } catch (err) {
          ctx.log(`    ${v.label} FAILED: ${errMsg(err)}`)
          reps.push({ variant: v.id, rep, steps: [], error: errMsg(err) })
        }
        ctx.progress?.done(def.name)
        continue
      }
      let target: Target | null = null
      try {
        target = await startTarget({ kind: v.kind, instances: v.instances, redis: v.redis, secret: ctx.secret, production: v.production, db: v.db, metricsOff: v.metricsOff })
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
      ctx.progress?.done(def.name)
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

/**
 * The ratio columns of a table: every other variant ÷ the reference (the bare server with the
 * redis adapter when present, else the bare one), then Switchboard ÷ bare when both ran (some of
 * issue 11's goals are against the bare server), then the extra Switchboard rows ÷ Switchboard
 * (the archive's and the metrics' own cost).
 */
export function ratioColumns (def: { variants: Variant[], reference?: string }): Array<{ num: Variant, den: Variant, label: string }> {
  const byId = (id: string): Variant | undefined => def.variants.find((v) => v.id === id)
  const ref = (def.reference !== undefined ? byId(def.reference) : undefined) ?? byId(BASE_REDIS.id) ?? def.variants.find((v) => v.kind === 'baseline')
  if (ref === undefined) return []
  const cols: Array<{ num: Variant, den: Variant, label: string }> = []
  const short = (v: Variant): string => v.label.replace(/^switchboard/, 'sb')
  for (const v of def.variants) {
    if (v === ref || SMALL_ONLY.has(v.id)) continue
    cols.push({ num: v, den: ref, label: `${short(v)} ÷ ${short(ref)}` })
  }
  const sb = byId(SB.id)
  const bare = byId(BASE.id)
  if (sb !== undefined && bare !== undefined && bare !== ref) cols.push({ num: sb, den: bare, label: `${short(sb)} ÷ ${short(bare)}` })
  for (const v of def.variants) {
    if (SMALL_ONLY.has(v.id) && sb !== undefined) cols.push({ num: v, den: sb, label: `${short(v)} ÷ ${short(sb)}` })
  }
  return cols
}

/** Step × figure rows, one column per variant, then the ratio columns (see ratioColumns). */
function buildTable (def: ScenarioDef, reps: RepRecord[], nReps: number): Table {
  const ratioCols = ratioColumns(def)
  const columns = ['step', 'figure', ...def.variants.map((v) => v.label), ...ratioCols.map((r) => r.label)]
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
      const ratios = ratioCols.map((r) => (m.ratio ? fmtRatio(aggOf(r.num.id, step, m.key), aggOf(r.den.id, step, m.key)) : ''))
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
  const chosen = variantsOf(cfg.kinds)
  const variants = chosen.filter((v) => !SMALL_ONLY.has(v.id))
  const defs: Record<ScenarioName, () => ScenarioDef | null> = {
    idle: () => idleDef(cfg, variants),
    fanout: () => fanoutDef(cfg, variants),
    small: () => smallDef(cfg, chosen),
    storm: () => stormDef(cfg, variants),
    cluster: () => clusterDef(cfg, cfg.kinds),
    archive: () => (cfg.kinds.includes('switchboard-pg') ? archiveDef(cfg) : null)
  }
  return cfg.scenarios.map((n) => defs[n]()).filter((d): d is ScenarioDef => d !== null && d.variants.length > 0)
}

/**
 * The variants for the target names, in the order of TARGET_NAMES. Results files written before
 * issue 11 name only 'switchboard' and 'baseline' and ran Switchboard in-process: their
 * 'switchboard' is kept as it was measured (see retable).
 */
export function variantsOf (kinds: readonly string[]): Variant[] {
  return TARGET_NAMES.filter((n) => kinds.includes(n)).map((n) => ALL_VARIANTS[n])
}

/**
 * Recomputes the tables of saved results from their raw repetitions (the definitions follow
 * from the saved config), so a results file can be rendered again without re-measuring.
 */
export function retable (cfg: Config, results: ScenarioResult[]): void {
  const defs = selectScenarios(cfg)
  for (const r of results) {
    const def = defs.find((d) => d.name === r.name)
    // the variants as saved: a results file keeps the labels of what it measured
    if (def !== undefined) r.table = buildTable({ ...def, variants: r.variants }, r.reps, cfg.reps)
  }
}

export async function runAll (ctx: Ctx): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = []
  for (const def of selectScenarios(ctx.cfg)) out.push(await runScenario(ctx, def))
  return out
}
