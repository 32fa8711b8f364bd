/**
 * Aggregation over repetitions (median with min–max) and the tables printed to the console
 * and to BENCHMARKS.md. Pure functions, no I/O.
 */

/** Median, min and max of one figure over the repetitions that produced it. */
export interface Agg {
  median: number
  min: number
  max: number
  n: number
}

export function aggregate (values: Array<number | null | undefined>): Agg | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = Math.floor(v.length / 2)
  const median = v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
  return { median, min: v[0], max: v[v.length - 1], n: v.length }
}

/** How a figure is shown. */
export interface MetricDef {
  key: string
  label: string
  /** decimals shown */
  digits: number
  /** whether a ratio is meaningful for this figure (not for flags or counts) */
  ratio: boolean
  /** a 0/1 flag shown as "passing repetitions / repetitions" */
  pass?: boolean
}

export function fmtNum (x: number, digits: number): string {
  if (!Number.isFinite(x)) return '–'
  if (Math.abs(x) >= 100_000) return Math.round(x).toLocaleString('en-US')
  return x.toFixed(digits)
}

/** "median (min–max)", or just the value for one repetition or a spread that rounds away. */
export function fmtAgg (a: Agg | null, digits: number): string {
  if (a === null) return '–'
  const m = fmtNum(a.median, digits)
  if (a.n < 2) return m
  const lo = fmtNum(a.min, digits)
  const hi = fmtNum(a.max, digits)
  return lo === hi ? m : `${m} (${lo}–${hi})`
}

export function fmtRatio (num: Agg | null, den: Agg | null): string {
  if (num === null || den === null || den.median === 0 || !Number.isFinite(num.median / den.median)) return '–'
  return `${(num.median / den.median).toFixed(2)}×`
}

export interface Table {
  title: string
  columns: string[]
  rows: string[][]
  notes: string[]
}

/** Markdown table with a heading and notes below it. */
export function toMarkdown (t: Table): string {
  const head = `| ${t.columns.join(' | ')} |`
  const sep = `|${t.columns.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`
  const body = t.rows.map((r) => `| ${r.join(' | ')} |`).join('\n')
  const notes = t.notes.length > 0 ? '\n\n' + t.notes.map((n) => `- ${n}`).join('\n') : ''
  return `### ${t.title}\n\n${head}\n${sep}\n${body}${notes}\n`
}

/** Plain text table with aligned columns for the console. */
export function toText (t: Table): string {
  const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  const out = [`== ${t.title}`, line(t.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)]
  for (const n of t.notes) out.push(`  * ${n}`)
  return out.join('\n') + '\n'
}
