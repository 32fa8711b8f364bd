/**
 * The message id `<ms>-<seq>` (SPEC §6): a Redis Streams position, also the memory store's.
 * A value format that every layer shares (stores write it, the domain canonicalises receipts,
 * the relay orders deliveries), so it lives here, below all of them, and imports nothing.
 */

/** Parses `<ms>-<seq>`; ids are validated by schema before they reach this. */
export function parseId (id: string): [number, number] {
  const i = id.indexOf('-')
  return [Number(id.slice(0, i)), Number(id.slice(i + 1))]
}

/** The canonical spelling of an id (`007-01` → `7-1`), as the stores write it. */
export function canonicalId (id: string): string {
  const [ms, seq] = parseId(id)
  return `${ms}-${seq}`
}

/** Orders two ids as history does: negative when `a` comes first, 0 when equal. */
export function compareIds (a: string, b: string): number {
  const [am, as] = parseId(a)
  const [bm, bs] = parseId(b)
  return am !== bm ? am - bm : as - bs
}
