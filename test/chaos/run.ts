/**
 * `npm run chaos [-- --quick | --medium] [--only S1,S2,S5] [--clients N] [--rate N] [--seed N]
 *  [--soak-s N] [--fuzz-runs N] [--strict] [--write-md]`
 *  `npm run chaos -- --render test/chaos/results/<file>.json[,<rerun>.json…]` (charts and RELIABILITY.md again, no
 *  run; a later file's scenarios replace the earlier's)
 *
 * The chaos suite (issue #17): each scenario starts its own Redis and server processes, runs
 * load clients recorded in a ledger, injects its fault, then compares history, the ledger and
 * every client's deliveries and prints a table of counts with their rules. `--quick` (CI, inside
 * `npm test`) runs S1, S2 and S5 at small scale in a few minutes. Results go to
 * test/chaos/results/<date>.json; `--write-md` also renders the SVG charts (docs/reliability/).
 * Exits 1 when a rule fails. Everything it starts is killed on the way out.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg, cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { killAll } from './lib/cluster.js'
import { writeCharts, writeMarkdown } from './lib/charts.js'
import { check, passed, renderText, type Scale, type ScenarioResult } from './lib/report.js'
import { crash } from './scenarios/crash.js'
import { readinessIdle, redisFault } from './scenarios/redis-faults.js'
import { fuzz } from './scenarios/fuzz.js'
import { clock } from './scenarios/clock.js'
import { slowReaders } from './scenarios/slow-readers.js'
import { rolling } from './scenarios/rolling.js'
import { soak } from './scenarios/soak.js'

type Runner = (scale: Scale) => Promise<ScenarioResult | ScenarioResult[]>

const SCENARIOS: Record<string, Runner> = {
  S1: crash,
  S2: async (s) => [await redisFault(s, 'kill'), await redisFault(s, 'kill-aof')],
  // each on its own: a crash of one is reported as that one's failure, the others still run
  S3: async (s) => [await alone('S3a', async () => await redisFault(s, 'sigstop')), await alone('S3b', async () => await redisFault(s, 'stall')),
    await alone('S3c', async () => await redisFault(s, 'cut')), await alone('S3d', async () => await readinessIdle(s))],
  S4: rolling,
  S5: fuzz,
  S6: slowReaders,
  S7: soak,
  S8: clock
}

/** A scenario run whose crash becomes its failed result (one failing check holding the error). */
async function alone (id: string, run: () => Promise<ScenarioResult>): Promise<ScenarioResult> {
  const started = Date.now()
  try {
    return await run()
  } catch (err) {
    const error = (err as Error).stack ?? String(err)
    console.log(`\n## ${id} crashed: ${error}`)
    return { id, title: `${id} (crashed)`, load: '', fault: '', checks: [check('scenario ran to the end', 'crashed', 'ran', false)], seconds: (Date.now() - started) / 1000, notes: [error.split('\n')[0]] }
  }
}

const QUICK = ['S1', 'S2', 'S5']

function scaleFor (mode: Scale['mode'], seed: number, strict: boolean): Scale {
  if (mode === 'quick') return { mode, clients: 24, rooms: 3, rate: 60, beforeS: 4, afterS: 6, outageS: 3, presenceTtlMs: 4000, fuzzRuns: 300, slowReaders: 10, soakS: 30, seed, strict }
  if (mode === 'medium') return { mode, clients: 100, rooms: 10, rate: 200, beforeS: 10, afterS: 15, outageS: 5, presenceTtlMs: 10_000, fuzzRuns: 2000, slowReaders: 30, soakS: 300, seed, strict }
  return { mode, clients: 500, rooms: 50, rate: 1000, beforeS: 30, afterS: 30, outageS: 10, presenceTtlMs: 30_000, fuzzRuns: 10_000, slowReaders: 100, soakS: 1200, seed, strict }
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    medium: { type: 'boolean' },
    only: { type: 'string' },
    clients: { type: 'string' },
    rate: { type: 'string' },
    seed: { type: 'string' },
    'soak-s': { type: 'string' },
    'fuzz-runs': { type: 'string' },
    'write-md': { type: 'boolean' },
    strict: { type: 'boolean' },
    render: { type: 'string' }
  }
})
const mode: Scale['mode'] = values.quick === true ? 'quick' : values.medium === true ? 'medium' : 'full'
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31)
const scale = scaleFor(mode, seed, values.strict === true)
if (values.clients !== undefined) scale.clients = Number(values.clients)
if (values.rate !== undefined) scale.rate = Number(values.rate)
if (values['soak-s'] !== undefined) scale.soakS = Number(values['soak-s'])
if (values['fuzz-runs'] !== undefined) scale.fuzzRuns = Number(values['fuzz-runs'])
const only = values.only?.split(',').map(s => s.trim()) ?? (mode === 'quick' ? QUICK : Object.keys(SCENARIOS))

interface Run { mode: Scale['mode'], scale: Scale, command: string, at: string, machine: { cores: number, model: string, loadAtStart: number, loadAtEnd: number }, results: ScenarioResult[] }

/** One run's line of the generated header. */
function runLine (run: Run): string {
  const m = run.machine
  return `Run: \`npm run chaos -- ${run.command}\` (${run.mode} scale: ${run.scale.clients} clients, ${run.scale.rooms} rooms, ${run.scale.rate} msg/s, fuzz ${run.scale.fuzzRuns} cases per target, soak ${run.scale.soakS} s, seed ${run.scale.seed}),\n` +
    `finished ${(run.at ?? '').slice(0, 16).replace('T', ' ')} UTC, ${m.cores} cores (${m.model ?? ''}), load average (1 min) ${m.loadAtStart.toFixed(2)} at start, ${m.loadAtEnd.toFixed(2)} at the end.`
}

/** Runs merged for rendering: the last run's result of each scenario, in the first run's order; every run named. */
function mergeRuns (runs: Run[]): Run & { runs: Run[] } {
  const byId = new Map<string, ScenarioResult>()
  for (const run of runs) for (const r of run.results) byId.set(r.id, { ...r, notes: [...(r.notes ?? []), ...(run === runs[0] ? [] : [`from the rerun that finished ${run.at.slice(0, 16).replace('T', ' ')} UTC (\`npm run chaos -- ${run.command}\`)`])] })
  // in scenario order (S1, S2a, S2b, S3a, …), whichever run a result came from
  const order = [...new Set(runs.flatMap(run => run.results.map(r => r.id)))].sort()
  return { ...runs[0], results: order.map(id => byId.get(id) as ScenarioResult), runs }
}

/** Charts into docs/reliability/ and the generated section of RELIABILITY.md. */
async function publish (run: Run & { runs?: Run[] }): Promise<void> {
  const root = new URL('../../', import.meta.url).pathname
  const charts = await writeCharts(run.results, run.scale, `${root}docs/reliability`)
  const runs = run.runs ?? [run]
  writeMarkdown(`${root}RELIABILITY.md`, [
    ...runs.map((r, i) => i === 0 ? runLine(r) : `Rerun, whose results replace the first run's for ${r.results.map(x => x.id).join(', ')}: ${runLine(r).slice('Run: '.length)}`),
    `Result: ${run.results.filter(passed).length} of ${run.results.length} scenario runs passed every rule.`
  ].join('\n'), run.results, charts)
  console.log('wrote RELIABILITY.md and docs/reliability/*.svg')
}

if (values.render !== undefined) {
  // several files (a,b,…): a later file's results replace an earlier file's of the same scenario
  // (a scenario rerun after a disturbed or crashed first run); every run is named in the header
  const all = values.render.split(',').map(f => JSON.parse(readFileSync(f.trim(), 'utf8')) as Run)
  // the same run named twice counts once
  const runs = all.filter((run, i) => all.findIndex(o => o.at === run.at && o.scale.seed === run.scale.seed) === i)
  await publish(runs.length === 1 ? runs[0] : mergeRuns(runs))
  process.exit(0)
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130) })
process.on('exit', killAll)

const load1 = loadavg()[0]
console.log(`chaos ${mode}: seed ${seed} (replay with --seed ${seed}); ${cpus().length} cores, load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
const results: ScenarioResult[] = []
let failed = 0
for (const id of only) {
  const run = SCENARIOS[id]
  if (run === undefined) { console.log(`unknown scenario ${id}`); failed++; continue }
  // the load clients' own event loop: when it lags, client-side latencies grow with it
  const eld = monitorEventLoopDelay({ resolution: 20 })
  eld.enable()
  try {
    const out = await run(scale)
    eld.disable()
    for (const r of Array.isArray(out) ? out : [out]) {
      r.notes = [...(r.notes ?? []), `runner (load clients) event-loop delay during ${id}: p99 ${(eld.percentile(99) / 1e6).toFixed(0)} ms, max ${(eld.max / 1e6).toFixed(0)} ms`]
      results.push(r)
      console.log(renderText(r))
      if (!passed(r)) failed++
    }
  } catch (err) {
    failed++
    console.log(`\n## ${id} crashed: ${(err as Error).stack ?? String(err)}`)
  }
}
killAll()
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
const file = new URL(`./results/${stamp}-${mode}.json`, import.meta.url)
writeFileSync(file, JSON.stringify({ mode, scale, command: process.argv.slice(2).join(' '), at: new Date().toISOString(), machine: { cores: cpus().length, model: cpus()[0]?.model ?? '', loadAtStart: load1, loadAtEnd: loadavg()[0] }, results } satisfies Run, null, 2))
console.log(`\nresults: ${file.pathname}`)
if (values['write-md'] === true) await publish({ mode, scale, command: process.argv.slice(2).join(' '), at: new Date().toISOString(), machine: { cores: cpus().length, model: cpus()[0]?.model ?? '', loadAtStart: load1, loadAtEnd: loadavg()[0] }, results })
console.log(`chaos: ${results.length - results.filter(r => !passed(r)).length} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
