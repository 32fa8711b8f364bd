/**
 * Seeded randomness for the tests that storm: the seed comes from `TEST_SEED` or is drawn, and is
 * printed as a tap comment, so a failing run's schedule is replayed with
 * `TEST_SEED=<n> npx tap <file>` (the delays repeat; the machine's own timing does not).
 */
import type { Test } from 'tap'
import { uniformInt } from 'pure-rand/distribution/uniformInt'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'

/** A random integer in [from, to] (both included), from a seed printed on `t`. */
export function seededInt (t: Test): (from: number, to: number) => number {
  const given = process.env.TEST_SEED
  const seed = given !== undefined && given !== '' ? Number(given) : Math.floor(Math.random() * 2 ** 31)
  if (!Number.isSafeInteger(seed)) throw new Error(`TEST_SEED must be an integer, got ${given}`)
  t.comment(`random seed ${seed} (replay: TEST_SEED=${seed})`)
  const rng = xoroshiro128plus(seed)
  return (from, to) => uniformInt(rng, from, to)
}
