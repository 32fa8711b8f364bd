/**
 * The bench's pure logic (issue 11's harness): goal evaluation over results, the ratio columns,
 * the Prometheus and INFO parsers it uses, and the run-time estimate of the progress lines.
 */
import { spawn } from 'node:child_process'
import t from 'tap'
import { evaluateGoals, goalsTable, medianOf } from '../../bench/lib/goals.js'
import { BASE, BASE_REDIS, countOf, ratioColumns, SB, SB_NOMETRICS, SB_PG, variantsOf, type Config, type RepRecord, type ScenarioResult, type Variant } from '../../bench/lib/scenarios.js'
import { parseRedisCpuMs } from '../../bench/lib/targets.js'
import { childCpuMs, threadCpuMs } from '../../bench/lib/proc.js'
import { Worker } from 'node:worker_threads'
import { estimateRepS, estimateRunS, fmtDuration } from '../../bench/lib/progress.js'

/** A scenario result with one step's figures per variant and repetition. */
function scenario (name: ScenarioResult['name'], variants: Variant[], steps: string[], reps: RepRecord[]): ScenarioResult {
  return { name, title: name, about: '', variants, metrics: [{ key: 'usPerDelivery', label: 'µs', digits: 1, ratio: true }], steps, reps, table: { title: name, columns: [], rows: [], notes: [] } }
}

function rep (variant: string, r: number, step: string, metrics: Record<string, number | null>): RepRecord {
  return { variant, rep: r, steps: [{ step, metrics, notes: [] }], error: null }
}

const smallStep = '1 msg/s/client'

function smallResult (sb: number[], adapter: number[], extra: Record<string, number[]> = {}): ScenarioResult {
  const reps: RepRecord[] = []
  sb.forEach((v, i) => reps.push(rep('switchboard', i + 1, smallStep, { usPerDelivery: v, sendUsPerDelivery: v, p99Ms: 10, redisUsPerDelivery: 20, offered: 2000, p50Ms: 1 })))
  adapter.forEach((v, i) => reps.push(rep('baseline-redis', i + 1, smallStep, { usPerDelivery: v, p99Ms: 5, redisUsPerDelivery: 20, offered: 2000, p50Ms: 1 })))
  for (const [id, vals] of Object.entries(extra)) vals.forEach((v, i) => reps.push(rep(id, i + 1, smallStep, { usPerDelivery: v, sendUsPerDelivery: v })))
  return scenario('small', [SB, BASE_REDIS, SB_PG, SB_NOMETRICS], [smallStep, '5 msg/s/client', 'best'], reps)
}

t.test('medianOf: median over repetitions, leaving out disturbed ones when clean ones exist', async (t) => {
  const s = smallResult([100, 120, 110], [100])
  t.equal(medianOf([s], 'small', 'switchboard', smallStep, 'usPerDelivery'), 110)
  s.reps[0].steps[0].metrics.disturbed = 1
  s.reps[0].steps[0].metrics.usPerDelivery = 1000
  t.equal(medianOf([s], 'small', 'switchboard', smallStep, 'usPerDelivery'), 115, 'the disturbed 1000 is left out')
  t.equal(medianOf([s], 'small', 'nobody', smallStep, 'usPerDelivery'), null)
  t.equal(medianOf([s], 'fanout', 'switchboard', smallStep, 'usPerDelivery'), null)
})

t.test('goals: met and not met against the thresholds of issue 11, 16 and 12', async (t) => {
  const s = smallResult([100, 100, 100], [100, 100, 100], { 'switchboard-pg': [104, 104, 104], 'switchboard-nometrics': [96, 96, 96] })
  const goals = evaluateGoals([s])
  const byWhat = (w: string) => goals.find((g) => g.what.startsWith(w))
  t.equal(byWhat('small rooms: server µs/delivery')?.met, true, '1.00× ≤ 1.0×')
  t.equal(byWhat('small rooms: server µs/delivery')?.ratio, 1)
  t.equal(byWhat('small rooms: p99')?.met, false, '10 vs 5 ms is 2.0× > 1.5×')
  t.match(byWhat('small rooms: p99')?.figure, /10\.0 ms vs 5\.00 ms = 2\.00×/)
  t.equal(byWhat('small rooms: redis')?.met, true)
  t.equal(byWhat('moonshot')?.met, false, '1.0× is not ≤ 0.8×')
  t.equal(byWhat('small rooms with DATABASE_URL')?.met, true, '1.04× ≤ 1.05×')
  t.equal(byWhat('metrics\' hot-path')?.met, false, '100 / 96 = 1.042× > 1.03×')
  t.equal(byWhat('fanout: server')?.met, null, 'no fanout scenario: not measured')
  t.match(byWhat('fanout: server')?.figure, /not measured/)
  t.equal(byWhat('reconnect storm: handshakes')?.met, null)
  const table = goalsTable(goals)
  t.equal(table.rows.length, goals.length)
  t.ok(table.rows.some((r) => r[4].startsWith('**not met**')))
  t.ok(table.rows.some((r) => r[4] === 'met'))
})

t.test('goals: issue 16 compares the sending path and reports the archiver process apart', async (t) => {
  const s = smallResult([100, 100, 100], [100, 100, 100])
  // the whole process costs 1.30× with the archive, its sending path 1.04×, the archiver 60 µs/message
  for (let i = 0; i < 3; i++) s.reps.push(rep('switchboard-pg', i + 1, smallStep, { usPerDelivery: 130, sendUsPerDelivery: 104, archiverUsPerMsg: 60 }))
  const goals = evaluateGoals([s])
  const send = goals.find((g) => g.what.startsWith('small rooms with DATABASE_URL: server µs/delivery on the sending path'))
  t.equal(send?.met, true, '104 vs 100 = 1.04× ≤ 1.05×, though the whole service is 1.30×')
  t.match(send?.figure, /104 µs vs 100 µs = 1\.04×/)
  const thread = goals.find((g) => g.what.startsWith('small rooms with DATABASE_URL: the archiver process'))
  t.equal(thread?.met, null, 'reported, no bar')
  t.match(thread?.figure, /60\.0 µs CPU per message sent; whole service \(archiver included\) 130 µs vs 100 µs\/delivery = 1\.30×/)
  const none = evaluateGoals([smallResult([100], [100])]).find((g) => g.what.startsWith('small rooms with DATABASE_URL: the archiver process'))
  t.match(none?.figure, /not measured/, 'no switchboard-pg row: not measured')
})

t.test('goals: storm time, refusals and idle memory', async (t) => {
  const storm = scenario('storm', [SB, BASE_REDIS, BASE], ['paced connect', 'storm'], [
    rep('switchboard', 1, 'storm', { allConnectedS: 3, connectUsPerConn: 900, refused: 0 }),
    rep('baseline', 1, 'storm', { allConnectedS: 1, connectUsPerConn: 800, refused: 0 })
  ])
  const idle = scenario('idle', [SB, BASE], ['500 conns', '2000 conns'], [
    rep('switchboard', 1, '2000 conns', { rssPerConnKiB: 11 }),
    rep('baseline', 1, '2000 conns', { rssPerConnKiB: 10 })
  ])
  const goals = evaluateGoals([storm, idle])
  const byWhat = (w: string) => goals.find((g) => g.what.startsWith(w))
  t.equal(byWhat('reconnect storm: time')?.met, false, '3 s vs 1 s is 3× > 2×')
  t.equal(byWhat('connections: server CPU')?.met, true, '1.125× ≤ 1.5×')
  t.equal(byWhat('reconnect storm: handshakes')?.met, true, 'none refused')
  t.equal(byWhat('idle RSS')?.met, true, '1.1× ≤ 1.2×, at the top level')
  storm.reps[0].steps[0].metrics.refused = 3
  t.equal(evaluateGoals([storm]).find((g) => g.what.startsWith('reconnect storm: handshakes'))?.met, false, 'any refusal fails it')
  storm.reps[0].steps[0].metrics.allConnectedS = null
  t.equal(evaluateGoals([storm]).find((g) => g.what.startsWith('reconnect storm: time'))?.met, null, 'no time when a client failed')
})

t.test('ratio columns: against the bare + adapter, Switchboard ÷ bare, extra rows ÷ Switchboard', async (t) => {
  const cols = ratioColumns({ variants: [SB, BASE_REDIS, BASE, SB_PG, SB_NOMETRICS] })
  t.same(cols.map((c) => [c.num.id, c.den.id]), [
    ['switchboard', 'baseline-redis'],
    ['baseline', 'baseline-redis'],
    ['switchboard', 'baseline'],
    ['switchboard-pg', 'switchboard'],
    ['switchboard-nometrics', 'switchboard']
  ])
  t.same(ratioColumns({ variants: [SB, BASE] }).map((c) => [c.num.id, c.den.id]), [['switchboard', 'baseline']], 'without the adapter: against the bare server')
  t.same(ratioColumns({ variants: [SB] }), [], 'no baseline, no ratio')
  t.same(variantsOf(['baseline', 'switchboard']).map((v) => v.id), ['switchboard', 'baseline'], 'in the fixed order')
  t.equal(BASE.redis, false)
  t.equal(SB.production, true)
  t.equal(SB.redis, true)
})

t.test('parsers: a Prometheus series, Redis INFO cpu', async (t) => {
  const text = [
    '# HELP switchboard_socket_events_total x',
    'switchboard_socket_events_total{event="room:join",result="ok"} 7',
    'switchboard_socket_events_total{event="message:send",result="invalid_payload"} 2',
    'switchboard_socket_events_total{event="message:send",result="ok"} 1234'
  ].join('\n')
  t.equal(countOf(text, 'switchboard_socket_events_total', { event: 'message:send', result: 'ok' }), 1234)
  t.equal(countOf(text, 'switchboard_socket_events_total', { event: 'typing', result: 'ok' }), 0)
  t.equal(parseRedisCpuMs('# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9\r\n'), 3750)
  t.ok(Number.isNaN(parseRedisCpuMs('')), 'no figures: NaN, never 0')
})

t.test('threadCpuMs: the CPU of the named threads only (a server CPU split by thread)', { skip: process.platform !== 'linux' && '/proc only' }, async (t) => {
  t.equal(threadCpuMs([process.pid], 'no-such-thread'), null, 'no such thread: null, not 0')
  // a thread that names itself as the archiver's does, then burns 300 ms of its own CPU (by its
  // own /proc account, so a busy machine only makes it take longer)
  const w = new Worker(`const fs = require('fs'); fs.writeFileSync('/proc/thread-self/comm', 'h-spin')
    const own = () => { const f = fs.readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10 }
    while (own() < 300) {}
    require('worker_threads').parentPort.postMessage('done'); setTimeout(() => {}, 60000)`, { eval: true })
  await new Promise((resolve) => w.once('message', resolve))
  const ms = threadCpuMs([process.pid], 'h-spin')
  await w.terminate()
  t.ok(ms !== null && ms >= 300 && ms <= 1000, `the spinning thread's CPU (${ms} ms), not the process's`)
})

t.test('childCpuMs: the CPU of a named child process of the given parents only (how the bench splits off the archiver)', { skip: process.platform !== 'linux' && '/proc only' }, async (t) => {
  t.equal(childCpuMs([process.pid], 'no-such-child'), null, 'no such child: null, not 0')
  // a child that titles itself as the archiver does, then burns 300 ms of its own CPU
  const c = spawn(process.execPath, ['-e', `process.title = 'h-child'; const fs = require('fs')
    const own = () => { const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10 }
    while (own() < 300) {}
    process.stdout.write('done'); setTimeout(() => {}, 60000)`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { c.kill('SIGKILL') })
  await new Promise((resolve) => c.stdout.once('data', resolve))
  const ms = childCpuMs([process.pid], 'h-child')
  t.ok(ms !== null && ms >= 300 && ms <= 1500, `the child's CPU (${ms} ms)`)
  t.equal(childCpuMs([c.pid as number], 'h-child'), null, 'only children of the given parents')
})

t.test('progress: the estimate adds up scenarios × variants × repetitions', async (t) => {
  const cfg = {
    reps: 3,
    connectConcurrency: 32,
    idle: { levels: [1000, 5000], roomSize: 10, settleMs: 2000 },
    fanout: { subscribers: 1000, publishers: 10, rates: [5, 10], stepMs: 5000, drainMs: 3000, pauseMs: 1000, warmupMs: 3000, stopOnFail: true },
    small: { rooms: 1000, perClientRates: [1, 5], stepMs: 6000, drainMs: 3000, pauseMs: 1000, warmupMs: 3000, stopOnFail: false },
    cluster: { instances: 2, subscribers: 1000, publishers: 10, rates: [10], stepMs: 5000, drainMs: 3000, pauseMs: 1000, warmupMs: 3000, stopOnFail: false, singleRedis: true },
    storm: { clients: 5000, roomSize: 10, timeoutMs: 60_000, settleMs: 2500 },
    archive: { rate: 400, seconds: 10, rooms: 50, backlog: 20_000 }
  } as unknown as Config
  const small = estimateRepS('small', cfg)
  // start 6 + 2000/600 connects + 3 warm-up + 2 × (1 + 0.5 + 6 + 1.5)
  t.equal(Math.round(small * 10) / 10, Math.round((6 + 2000 / 600 + 3 + 2 * 9) * 10) / 10)
  t.ok(estimateRepS('storm', cfg) > 2 * 5000 / 600)
  t.ok(estimateRepS('archive', cfg) > 20)
  t.equal(estimateRunS(cfg, [{ name: 'small', variants: 5 }]), 3 * 5 * (small + 0.5))
  t.equal(fmtDuration(65), '1m05s')
  t.equal(fmtDuration(9.6), '10s')
})

t.test('goals: results from before issue 11 (Switchboard in-process) are not judged', async (t) => {
  const old = smallResult([100], [100])
  old.variants = [{ ...SB, redis: false, production: false }, BASE_REDIS]
  const g = evaluateGoals([old]).find((x) => x.what.startsWith('small rooms: server'))
  t.equal(g?.met, null)
  t.match(g?.figure, /in-process/)
})
