/**
 * `npm run bench [-- --quick] [--only fanout,idle] [--targets switchboard,baseline-redis,baseline]
 *  [--reps N] [--workers N] [--write-md]`
 *
 * Runs every scenario against Switchboard on Redis (NODE_ENV=production), the bare Socket.IO
 * server with `@socket.io/redis-adapter` and the bare server alone, in turn (plus the extra
 * Switchboard rows: PostgreSQL archive, metrics off, in-process on request); prints one table per
 * scenario and issue 11's goals; writes bench/results/<date>.json and SVG charts next to it, and
 * (a complete full run, or --write-md) the generated section of BENCHMARKS.md. Everything it
 * starts is killed on the way out.
 */
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { machineInfo, describeMachine } from './lib/machine.js'
import { mergeInto, renderResults, type Results } from './lib/markdown.js'
import { WorkerPool } from './lib/pool.js'
import { installCleanupHandlers, stopAll } from './lib/proc.js'
import { DEFAULT_TARGETS, retable, runAll, selectScenarios, SCENARIOS, TARGET_NAMES, type Config, type Ctx, type ScenarioName, type TargetName } from './lib/scenarios.js'
import { toText } from './lib/stats.js'
import { ROOT, switchboardAvailable } from './lib/targets.js'
import { estimateRunS, fmtDuration, Progress } from './lib/progress.js'
import { evaluateGoals, goalsTable } from './lib/goals.js'
import { writeCharts } from './lib/charts.js'

const USAGE = `usage: npm run bench -- [--quick] [--only ${SCENARIOS.join(',')}]
       [--targets ${TARGET_NAMES.join(',')}] [--reps N] [--workers N] [--write-md]
       npm run bench -- --render bench/results/<file>.json [--write-md]   (tables again, no measuring)
       npm run bench -- --plan [--quick] [...]   (the plan and its expected duration, no measuring)`

/** Full run: the sizes the issues ask for; about 40–60 minutes on 2 cores (`--plan` prints the estimate). */
function fullConfig (): Config {
  return {
    mode: 'full',
    reps: 3,
    // the server needs a core; on 2 cores two client processes share the other one
    workers: Math.max(2, availableParallelism() - 1),
    textBytes: 100,
    connectConcurrency: 32,
    connectTimeoutMs: 10_000,
    kinds: [...DEFAULT_TARGETS],
    scenarios: SCENARIOS,
    p99LimitMs: 100,
    quietWaitMs: 20_000,
    disturbedRetries: 2,
    idle: { levels: [1000, 5000, 10_000], roomSize: 10, settleMs: 2500 },
    // 25 msg/s is issue 11's fanout goal step
    fanout: { subscribers: 1000, publishers: 10, rates: [5, 10, 20, 25, 30, 50, 75, 100, 150, 200], stepMs: 5000, drainMs: 3000, pauseMs: 1000, warmupMs: 3000, stopOnFail: true, runAtLeastTo: 25 },
    small: { rooms: 1000, perClientRates: [1, 5], stepMs: 6000, drainMs: 3000, pauseMs: 1000, warmupMs: 3000, stopOnFail: false },
    cluster: { instances: 2, subscribers: 1000, publishers: 10, rates: [10, 20, 30], stepMs: 5000, drainMs: 3000, pauseMs: 1000, warmupMs: 3000, stopOnFail: false, singleRedis: true },
    storm: { clients: 5000, roomSize: 10, timeoutMs: 60_000, settleMs: 2500 },
    archive: { rate: 400, seconds: 10, rooms: 50, backlog: 20_000 }
  }
}

/** Smoke run: same scenarios, fewer sockets, short steps, one repetition; under 3 minutes. */
function quickConfig (): Config {
  const f = fullConfig()
  return {
    ...f,
    mode: 'quick',
    reps: 1,
    // a smoke run stays short on a busy machine: disturbed steps are flagged, not re-measured
    quietWaitMs: 3000,
    disturbedRetries: 0,
    idle: { levels: [500, 2000], roomSize: 10, settleMs: 1500 },
    fanout: { subscribers: 200, publishers: 10, rates: [25, 50, 100, 200], stepMs: 2000, drainMs: 1500, pauseMs: 300, warmupMs: 1500, stopOnFail: true, runAtLeastTo: 25 },
    small: { rooms: 200, perClientRates: [1, 5], stepMs: 2000, drainMs: 1500, pauseMs: 300, warmupMs: 1500, stopOnFail: false },
    cluster: { instances: 2, subscribers: 200, publishers: 10, rates: [25, 100], stepMs: 2000, drainMs: 1500, pauseMs: 300, warmupMs: 1500, stopOnFail: false, singleRedis: false },
    storm: { clients: 500, roomSize: 10, timeoutMs: 20_000, settleMs: 1500 },
    archive: { rate: 200, seconds: 3, rooms: 20, backlog: 3000 }
  }
}

function parseList<T extends string> (raw: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (raw === undefined) return undefined
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const i of items) {
    if (!(allowed as readonly string[]).includes(i)) throw new Error(`unknown ${what} '${i}' (one of ${allowed.join(', ')})`)
  }
  return items as T[]
}

function positiveInt (raw: string | undefined, what: string): number | undefined {
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--${what} must be an integer 1–64`)
  return n
}

function buildConfig (): { cfg: Config, writeMd: boolean, render: string | undefined, planOnly: boolean } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      targets: { type: 'string' },
      reps: { type: 'string' },
      workers: { type: 'string' },
      'write-md': { type: 'boolean', default: false },
      render: { type: 'string' },
      plan: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    },
    strict: true
  })
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    process.exit(0)
  }
  const cfg = values.quick === true ? quickConfig() : fullConfig()
  cfg.scenarios = parseList<ScenarioName>(values.only, SCENARIOS, 'scenario') ?? cfg.scenarios
  cfg.kinds = parseList<TargetName>(values.targets, TARGET_NAMES, 'target') ?? cfg.kinds
  cfg.reps = positiveInt(values.reps, 'reps') ?? cfg.reps
  cfg.workers = positiveInt(values.workers, 'workers') ?? cfg.workers
  // only a complete full run replaces the figures in BENCHMARKS.md, unless asked to
  const complete = cfg.mode === 'full' && values.only === undefined && values.targets === undefined
  // re-rendering a saved file writes BENCHMARKS.md only when asked
  const writeMd = values['write-md'] === true || (complete && values.render === undefined)
  return { cfg, writeMd, render: values.render, planOnly: values.plan === true }
}

/** Keeps every idle level within the file descriptors a server may open. */
function fitToFdLimit (cfg: Config, nofile: number, log: (s: string) => void): void {
  if (!Number.isFinite(nofile)) return
  const max = nofile - 256
  const levels = cfg.idle.levels.filter((n) => n <= max)
  if (levels.length < cfg.idle.levels.length) {
    log(`warning: ulimit -n is ${nofile}; idle levels above ${max} dropped (raise it: ulimit -n 65535)`)
    cfg.idle.levels = levels.length > 0 ? levels : [max]
  }
}

const log = (line: string): void => { process.stdout.write(line + '\n') }

/** Prints the tables and, when asked, puts them into BENCHMARKS.md. */
async function publish (results: Results, rel: string, writeMd: boolean): Promise<void> {
  log('')
  for (const s of results.scenarios) log(toText(s.table))
  log(toText(goalsTable(evaluateGoals(results.scenarios), results.config.mode)))
  // charts next to the results file: bench/results/<stamp>/*.svg
  const dir = rel.replace(/\.json$/, '')
  let charts: string[] = []
  try {
    charts = await writeCharts(results.scenarios, `${ROOT}${dir}`)
    log(`charts: ${charts.length} SVG in ${dir}/`)
  } catch (err) {
    log(`charts failed: ${err instanceof Error ? err.message : String(err)}`)
  }
  log(`results: ${rel} (${Math.round(results.durationS)} s)`)
  if (writeMd) {
    const mdPath = `${ROOT}BENCHMARKS.md`
    const existing = existsSync(mdPath) ? readFileSync(mdPath, 'utf8') : '# Benchmarks\n'
    writeFileSync(mdPath, mergeInto(existing, renderResults(results, rel, charts.map((c) => relative(ROOT, c)))))
    log('BENCHMARKS.md updated')
  }
}

/** Re-renders a saved results file (tables recomputed from its raw repetitions). */
async function renderSaved (file: string, writeMd: boolean): Promise<void> {
  const abs = resolve(file)
  const results = JSON.parse(readFileSync(abs, 'utf8')) as Results
  retable(results.config, results.scenarios)
  writeFileSync(abs, JSON.stringify(results, null, 2) + '\n')
  await publish(results, relative(ROOT, abs), writeMd)
}

async function main (): Promise<void> {
  installCleanupHandlers()
  const { cfg, writeMd, render, planOnly } = buildConfig()
  if (render !== undefined) {
    await renderSaved(render, writeMd)
    return
  }
  const machine = machineInfo()
  log(`bench: ${cfg.mode} run on ${describeMachine(machine)}`)
  fitToFdLimit(cfg, machine.nofile, log)
  if (!switchboardAvailable() && cfg.kinds.some((k) => k.startsWith('switchboard'))) {
    log('warning: src/server.ts not found, running the baselines only')
    cfg.kinds = cfg.kinds.filter((k) => !k.startsWith('switchboard'))
  }
  if (cfg.kinds.length === 0) throw new Error('nothing to benchmark')

  const plan = selectScenarios(cfg).map((d) => ({ name: d.name, variants: d.variants.length }))
  const expectedS = estimateRunS(cfg, plan)
  const runs = plan.reduce((s, p) => s + p.variants * cfg.reps, 0)
  log(`plan: ${plan.map((p) => `${p.name} ×${p.variants}`).join(', ')}; ${cfg.reps} repetition${cfg.reps > 1 ? 's' : ''}, ${runs} runs, expected ~${fmtDuration(expectedS)}`)
  if (planOnly) return
  const started = new Date()
  const ctx: Ctx = {
    cfg,
    pool: new WorkerPool(cfg.workers),
    secret: randomBytes(48).toString('hex'),
    log,
    progress: new Progress(expectedS, runs)
  }
  let scenarios
  try {
    scenarios = await runAll(ctx)
  } finally {
    await ctx.pool.close().catch(() => {})
    await stopAll()
  }
  const finished = new Date()
  const results: Results = {
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: (finished.getTime() - started.getTime()) / 1000,
    machine,
    config: cfg,
    scenarios
  }

  mkdirSync(`${ROOT}bench/results`, { recursive: true })
  const stamp = started.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const rel = `bench/results/${stamp}${cfg.mode === 'quick' ? '-quick' : ''}.json`
  writeFileSync(`${ROOT}${rel}`, JSON.stringify(results, null, 2) + '\n')
  await publish(results, rel, writeMd)
}

main().then(() => process.exit(0), async (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n${USAGE}\n`)
  await stopAll()
  process.exit(1)
})
