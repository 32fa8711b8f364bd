/**
 * SVG charts rendered in Node: Vega-Lite specs compiled by `vega-lite` and rendered by `vega`'s
 * headless View (renderer 'none' + toSVG: no browser, no canvas, no native module; works on
 * Node 20). `svg()` is the general-purpose renderer (any Vega-Lite spec → SVG text); the spec
 * builders below are the bench's charts, pure functions of a run's results (tested in
 * test/unit/bench-charts.test.ts):
 * - p50 and p99 latency against the offered rate, one line per server (fanout and small rooms);
 * - server µs per delivery per scenario step, one bar per server;
 * - connect-storm time until every client is connected and joined, one bar per server.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { ScenarioResult } from './scenarios.js'
import { medianOf } from './goals.js'

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'

/** Renders any Vega-Lite spec to SVG text. */
export async function svg (spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

export interface Chart {
  /** file name without extension */
  name: string
  spec: TopLevelSpec
}

/** Variant label of an id in a scenario. */
function labelOf (s: ScenarioResult, id: string): string {
  return s.variants.find((v) => v.id === id)?.label ?? id
}

/** Latency p50/p99 (ms, log scale) against offered msg/s for every variant of a load scenario. */
export function latencySpec (s: ScenarioResult): TopLevelSpec | null {
  const rows: Array<{ rate: number, ms: number, server: string, percentile: string }> = []
  for (const v of s.variants) {
    for (const step of s.steps) {
      if (step === 'best') continue
      const rate = medianOf([s], s.name, v.id, step, 'offered')
      for (const [key, percentile] of [['p50Ms', 'p50'], ['p99Ms', 'p99']] as const) {
        const ms = medianOf([s], s.name, v.id, step, key)
        if (rate !== null && ms !== null && ms > 0) rows.push({ rate, ms, server: v.label, percentile })
      }
    }
  }
  if (rows.length === 0) return null
  return {
    $schema: SCHEMA,
    title: `${s.title}: latency against offered rate`,
    width: 560,
    height: 260,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'rate', type: 'quantitative', title: 'offered msg/s (total)', scale: { type: 'log' } },
      y: { field: 'ms', type: 'quantitative', title: 'latency ms (send → receive)', scale: { type: 'log' } },
      color: { field: 'server', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 320, columns: 2 } },
      strokeDash: { field: 'percentile', type: 'nominal', title: null, legend: { orient: 'right' } }
    }
  }
}

/** Server µs per delivery, grouped by scenario step, one bar per variant. */
export function usPerDeliverySpec (scenarios: ScenarioResult[]): TopLevelSpec | null {
  const rows: Array<{ step: string, server: string, us: number }> = []
  for (const s of scenarios) {
    if (!s.metrics.some((m) => m.key === 'usPerDelivery')) continue
    for (const step of s.steps) {
      if (step === 'best') continue
      for (const v of s.variants) {
        const us = medianOf([s], s.name, v.id, step, 'usPerDelivery')
        if (us !== null) rows.push({ step: `${s.name} ${step}`, server: labelOf(s, v.id), us })
      }
    }
  }
  if (rows.length === 0) return null
  return {
    $schema: SCHEMA,
    title: 'Server CPU µs per delivery (lower is better)',
    width: { step: 14 },
    height: 260,
    data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'step', type: 'nominal', title: null, axis: { labelAngle: -40, labelLimit: 160 }, sort: null },
      xOffset: { field: 'server', type: 'nominal' },
      y: { field: 'us', type: 'quantitative', title: 'µs per delivery' },
      color: { field: 'server', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 320, columns: 2 } }
    }
  }
}

/** Connect storm: seconds until every client is connected and joined, paced and all at once. */
export function stormSpec (scenarios: ScenarioResult[]): TopLevelSpec | null {
  const s = scenarios.find((x) => x.name === 'storm')
  if (s === undefined) return null
  const rows: Array<{ phase: string, server: string, s: number }> = []
  for (const step of s.steps) {
    for (const v of s.variants) {
      const t = medianOf([s], 'storm', v.id, step, 'allConnectedS')
      if (t !== null) rows.push({ phase: step, server: v.label, s: t })
    }
  }
  if (rows.length === 0) return null
  return {
    $schema: SCHEMA,
    title: `${s.title}: time until all connected and joined`,
    width: { step: 28 },
    height: 220,
    data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'phase', type: 'nominal', title: null, sort: null },
      xOffset: { field: 'server', type: 'nominal' },
      y: { field: 's', type: 'quantitative', title: 'seconds' },
      color: { field: 'server', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 320 } }
    }
  }
}

/** Every chart a run's results make (those without data are left out). */
export function benchCharts (scenarios: ScenarioResult[]): Chart[] {
  const out: Chart[] = []
  for (const name of ['fanout', 'small', 'cluster']) {
    const s = scenarios.find((x) => x.name === name)
    const spec = s === undefined ? null : latencySpec(s)
    if (spec !== null) out.push({ name: `latency-${name}`, spec })
  }
  const us = usPerDeliverySpec(scenarios)
  if (us !== null) out.push({ name: 'us-per-delivery', spec: us })
  const storm = stormSpec(scenarios)
  if (storm !== null) out.push({ name: 'connect-storm', spec: storm })
  return out
}

/** Renders the run's charts into `dir`; returns the files written. */
export async function writeCharts (scenarios: ScenarioResult[], dir: string): Promise<string[]> {
  const charts = benchCharts(scenarios)
  if (charts.length === 0) return []
  mkdirSync(dir, { recursive: true })
  const files: string[] = []
  for (const c of charts) {
    const file = `${dir}/${c.name}.svg`
    writeFileSync(file, await svg(c.spec))
    files.push(file)
  }
  return files
}
