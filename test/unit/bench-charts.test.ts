/**
 * The bench's charts (bench/lib/charts.ts): the Vega-Lite specs built from results carry the
 * right points, and the renderer turns them into SVG in Node (vega's headless view).
 */
import t from 'tap'
import { benchCharts, latencySpec, svg, usPerDeliverySpec } from '../../bench/lib/charts.js'
import { BASE, BASE_REDIS, SB, type RepRecord, type ScenarioResult, type StepRecord } from '../../bench/lib/scenarios.js'

function fanout (): ScenarioResult {
  const steps = ['25 msg/s', '50 msg/s', 'best']
  const reps: RepRecord[] = [SB, BASE_REDIS, BASE].map((v, i) => ({
    variant: v.id,
    rep: 1,
    error: null,
    steps: <StepRecord[]>[
      { step: '25 msg/s', metrics: { offered: 25, p50Ms: 10 + i, p99Ms: 30 + i, usPerDelivery: 15 + i }, notes: [] },
      { step: '50 msg/s', metrics: { offered: 50, p50Ms: 20 + i, p99Ms: 60 + i, usPerDelivery: 14 + i }, notes: [] },
      { step: 'best', metrics: { maxOkRate: 50 }, notes: [] }
    ]
  }))
  return { name: 'fanout', title: 'Fanout', about: '', variants: [SB, BASE_REDIS, BASE], metrics: [{ key: 'usPerDelivery', label: 'µs', digits: 1, ratio: true }], steps, reps, table: { title: '', columns: [], rows: [], notes: [] } }
}

t.test('latency spec: p50 and p99 per server per offered rate', async (t) => {
  const spec = latencySpec(fanout()) as unknown as { data: { values: Array<{ rate: number, ms: number, server: string, percentile: string }> } }
  t.equal(spec.data.values.length, 3 * 2 * 2, '3 servers × 2 rates × 2 percentiles')
  t.same(spec.data.values.find((r) => r.server === BASE_REDIS.label && r.rate === 50 && r.percentile === 'p99'), { rate: 50, ms: 61, server: BASE_REDIS.label, percentile: 'p99' })
})

t.test('µs per delivery spec: one bar per server and step, none for the summary step', async (t) => {
  const spec = usPerDeliverySpec([fanout()]) as unknown as { data: { values: Array<{ step: string, server: string, us: number }> } }
  t.equal(spec.data.values.length, 6)
  t.notOk(spec.data.values.some((r) => r.step.includes('best')))
  t.equal(usPerDeliverySpec([]), null)
})

t.test('charts render to SVG in Node', async (t) => {
  const charts = benchCharts([fanout()])
  t.same(charts.map((c) => c.name), ['latency-fanout', 'us-per-delivery'], 'no storm chart without a storm')
  for (const c of charts) {
    const out = await svg(c.spec)
    t.match(out, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/, `${c.name} is an SVG document`)
    t.match(out, new RegExp(BASE_REDIS.label.replace(/\+/g, '\\+')), `${c.name} names the servers in its legend`)
  }
})

t.test('the generated section: goals first, then the charts, then the tables', async (t) => {
  const { renderResults, mergeInto, BEGIN, END } = await import('../../bench/lib/markdown.js')
  const results = {
    startedAt: '2026-11-30T00:00:00.000Z',
    finishedAt: '2026-11-30T00:10:00.000Z',
    durationS: 600,
    machine: { nproc: 2, cpuModel: 'x', memTotalBytes: 2 ** 30, node: 'v20', kernel: 'Linux', nofile: 20000, portRange: '1–2' },
    config: { mode: 'quick', reps: 1, workers: 2, textBytes: 100 },
    scenarios: [{ ...fanout(), table: { title: 'Fanout', columns: ['step', 'figure', 'a'], rows: [['25 msg/s', 'x', '1']], notes: [] } }]
  } as unknown as Parameters<typeof renderResults>[0]
  const md = renderResults(results, 'bench/results/x.json', ['bench/results/x/latency-fanout.svg'])
  const goals = md.indexOf('### Goals')
  const chart = md.indexOf('![latency-fanout](bench/results/x/latency-fanout.svg)')
  const table = md.indexOf('### Fanout')
  t.ok(goals > 0 && chart > goals && table > chart, 'in that order')
  t.match(md, /smoke\) run/, 'a quick run says its figures do not judge the goals')
  t.match(md, /fanout: p99 at 25 msg\/s \| ≤ 1\.2× bare \| 25 msg\/s: 30\.0 ms vs 32\.0 ms = 0\.94× \| met/)
  const merged = mergeInto(`# B\n\nhand-written\n\n${BEGIN}\nold\n${END}\n\ntail\n`, md)
  t.match(merged, /hand-written/)
  t.match(merged, /tail/)
  t.notMatch(merged, /\nold\n/)
})
