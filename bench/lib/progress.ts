/**
 * Progress of a long run: runs done of the expected number, elapsed time against a rough
 * estimate from the config (so `npm run bench` says where it is: scenario, repetition, rate,
 * elapsed / expected). The estimate is pure arithmetic over the config, tested in
 * test/unit/bench-goals.test.ts; it is a guide, not a promise (a busy machine waits longer for
 * quiet before each step).
 */
import type { Config, LoadTiming, ScenarioName } from './scenarios.js'

/** a server start, its readiness and the stop after the run */
const START_S = 6
/** authenticated connect+join per second on a small machine, for the estimate */
const CONNECTS_PER_S = 600

function ladderS (t: LoadTiming, steps: number, clients: number): number {
  // a step: pause, a quiet check (~0.5 s), the window, the drain (usually ended early by quiet)
  return START_S + clients / CONNECTS_PER_S + t.warmupMs / 1000 + steps * ((t.pauseMs + 500 + t.stepMs + t.drainMs / 2) / 1000)
}

/** Seconds one variant's repetition of a scenario is expected to take. */
export function estimateRepS (name: ScenarioName, cfg: Config): number {
  switch (name) {
    case 'idle': {
      const top = Math.max(0, ...cfg.idle.levels)
      return START_S + top / CONNECTS_PER_S + (cfg.idle.levels.length + 1) * (cfg.idle.settleMs / 1000 + 1)
    }
    case 'fanout': return ladderS(cfg.fanout, cfg.fanout.rates.length, cfg.fanout.subscribers + cfg.fanout.publishers)
    case 'small': return ladderS(cfg.small, cfg.small.perClientRates.length, cfg.small.rooms * 2)
    case 'cluster': return ladderS(cfg.cluster, cfg.cluster.rates.length, cfg.cluster.subscribers + cfg.cluster.publishers)
    case 'storm': {
      const st = cfg.storm ?? { clients: 300, settleMs: 1500 }
      return START_S + (2 * st.clients) / CONNECTS_PER_S + st.settleMs / 1000 + 3
    }
    case 'archive': {
      const a = cfg.archive ?? { seconds: 3, backlog: 3000 }
      // PostgreSQL's initdb and start, the load, building the backlog, draining it
      return 10 + a.seconds + a.backlog / 1500
    }
  }
}

/** Seconds the whole run is expected to take, for the variants each scenario runs. */
export function estimateRunS (cfg: Config, variantsPerScenario: Array<{ name: ScenarioName, variants: number }>): number {
  return variantsPerScenario.reduce((s, x) => s + cfg.reps * x.variants * (estimateRepS(x.name, cfg) + 0.5), 0)
}

export function fmtDuration (s: number): string {
  const t = Math.max(0, Math.round(s))
  const m = Math.floor(t / 60)
  return m > 0 ? `${m}m${String(t % 60).padStart(2, '0')}s` : `${t}s`
}

export class Progress {
  readonly #t0 = performance.now()
  #done = 0
  constructor (readonly expectedS: number, readonly totalRuns: number) {}

  /** one variant's repetition of a scenario is over */
  done (_scenario: string): void {
    this.#done++
  }

  /** "3/40 runs, 1m05s / ~21m10s" */
  line (): string {
    return `${this.#done}/${this.totalRuns} runs, ${fmtDuration((performance.now() - this.#t0) / 1000)} / ~${fmtDuration(this.expectedS)}`
  }
}
