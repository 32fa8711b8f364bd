/**
 * Lean instruments for the hot paths (every socket event, every heartbeat). prom-client's
 * `labels(...)` children still build a label object and hash it on every `inc`/`observe`;
 * these keep one slot per label combination, fixed when the family is made, so recording is
 * an array increment (a bucket search for histograms) and allocates nothing. The families
 * register in a prom-client Registry like any other (it only asks `name`, `help`, `type` and
 * `get()`), so the scrape format is prom-client's own. Every slot is exported from the first
 * scrape, at 0 (SPEC §6: `rate()` works at once), and no label value can appear that was not
 * listed: cardinality is fixed by construction.
 */
import type { Registry } from 'prom-client'

type Labels = Record<string, string>
interface Value { labels: Labels, value: number, metricName?: string }

/** Every combination of the label values, in order (the first label varies slowest). */
function combinations (labelValues: Record<string, readonly string[]>): Labels[] {
  let out: Labels[] = [{}]
  for (const [name, values] of Object.entries(labelValues)) {
    const next: Labels[] = []
    for (const l of out) for (const v of values) next.push({ ...l, [name]: v })
    out = next
  }
  return out
}

abstract class LeanFamily {
  readonly name: string
  readonly help: string
  abstract readonly type: 'counter' | 'histogram'
  readonly aggregator = 'sum'
  protected readonly slots: Labels[]
  readonly #index = new Map<string, number>()
  readonly #labelNames: string[]

  constructor (name: string, help: string, labelValues: Record<string, readonly string[]>, registry: Registry) {
    this.name = name
    this.help = help
    this.#labelNames = Object.keys(labelValues)
    this.slots = combinations(labelValues)
    this.slots.forEach((l, i) => this.#index.set(this.#key(l), i))
    registry.registerMetric(this as never)
  }

  #key (labels: Labels): string {
    return this.#labelNames.map(n => labels[n]).join('\u0000')
  }

  /** The slot of a label combination, looked up once (at setup), never per record; -1 when not listed. */
  slot (labels: Labels = {}): number {
    return this.#index.get(this.#key(labels)) ?? -1
  }

  abstract get (): { name: string, help: string, type: string, aggregator: string, values: Value[] }
  abstract reset (): void
}

/** A counter over a fixed set of label combinations. */
export class LeanCounter extends LeanFamily {
  readonly type = 'counter'
  readonly #values: Float64Array

  constructor (name: string, help: string, labelValues: Record<string, readonly string[]>, registry: Registry) {
    super(name, help, labelValues, registry)
    this.#values = new Float64Array(this.slots.length)
  }

  /** Adds to a slot from `slot()`; an unlisted slot (-1) is ignored. */
  inc (slot: number, by = 1): void {
    if (slot >= 0) this.#values[slot] += by
  }

  /** The value of a slot (tests). */
  value (slot: number): number {
    return this.#values[slot]
  }

  get (): ReturnType<LeanFamily['get']> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.slots.map((labels, i) => ({ labels, value: this.#values[i] })) }
  }

  reset (): void { this.#values.fill(0) }
}

/** A histogram over a fixed set of label combinations and bucket bounds (seconds). */
export class LeanHistogram extends LeanFamily {
  readonly type = 'histogram'
  readonly #bounds: Float64Array
  /** per slot: one non-cumulative count per bound, then one for +Inf */
  readonly #counts: Float64Array
  readonly #sums: Float64Array

  constructor (name: string, help: string, labelValues: Record<string, readonly string[]>, buckets: readonly number[], registry: Registry) {
    super(name, help, labelValues, registry)
    this.#bounds = Float64Array.from([...buckets].sort((a, b) => a - b))
    this.#counts = new Float64Array(this.slots.length * (this.#bounds.length + 1))
    this.#sums = new Float64Array(this.slots.length)
  }

  /** Records a value (seconds) in a slot from `slot()`; an unlisted slot (-1) or a non-finite value is ignored. */
  observe (slot: number, seconds: number): void {
    if (slot < 0 || !Number.isFinite(seconds)) return
    const bounds = this.#bounds
    let b = 0
    while (b < bounds.length && seconds > bounds[b]) b++
    this.#counts[slot * (bounds.length + 1) + b]++
    this.#sums[slot] += seconds
  }

  get (): ReturnType<LeanFamily['get']> {
    const values: Value[] = []
    const n = this.#bounds.length + 1
    this.slots.forEach((labels, s) => {
      let cumulative = 0
      for (let b = 0; b < n; b++) {
        cumulative += this.#counts[s * n + b]
        const le = b < n - 1 ? this.#bounds[b] : '+Inf'
        values.push({ labels: { ...labels, le: le as unknown as string }, value: cumulative, metricName: `${this.name}_bucket` })
      }
      values.push({ labels, value: this.#sums[s], metricName: `${this.name}_sum` })
      values.push({ labels, value: cumulative, metricName: `${this.name}_count` })
    })
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void {
    this.#counts.fill(0)
    this.#sums.fill(0)
  }
}
