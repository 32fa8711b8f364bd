/**
 * The payload rules every schema leaves out (SPEC §4 "Payloads are JSON values"): binary
 * attachments (Buffer, ArrayBuffer, typed arrays, Blob), object keys `__proto__`,
 * `constructor` and `prototype`, and nesting deeper than MAX_DEPTH levels counted from the
 * payload's root (objects and arrays alike), wherever they appear. One walk for both transports
 * (socket payloads in compileValidator, REST bodies in their JSON parser), iterative with an
 * explicit stack, so no input can blow the call stack; it stops going deeper at MAX_DEPTH + 1.
 */
import type { ErrorDetail } from '../errors.js'

export const MAX_DEPTH = 32
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
const MAX_PROBLEMS = 10

/** JSON-pointer escaping of one key (RFC 6901). */
function escape (key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}

function isBinary (v: object): boolean {
  return ArrayBuffer.isView(v) || v instanceof ArrayBuffer || (typeof Blob !== 'undefined' && v instanceof Blob) ||
    // socket.io-parser leaves a placeholder object when a binary packet lacks its attachment
    (v as { _placeholder?: unknown })._placeholder === true
}

/**
 * What in `value` breaks the rules, as `{ path, message }` with JSON-pointer paths; empty when
 * nothing does. At most MAX_PROBLEMS entries.
 */
export function jsonProblems (value: unknown): ErrorDetail[] {
  const problems: ErrorDetail[] = []
  if (value === null || typeof value !== 'object') return problems
  // [value, its JSON pointer, its depth: the root object or array is level 1]
  const stack: Array<[object, string, number]> = [[value, '', 1]]
  while (stack.length > 0 && problems.length < MAX_PROBLEMS) {
    const [v, path, depth] = stack.pop()!
    if (isBinary(v)) {
      problems.push({ path: path || '/', message: 'must be a JSON value, not binary data' })
      continue
    }
    if (depth > MAX_DEPTH) {
      problems.push({ path: path || '/', message: `nests deeper than ${MAX_DEPTH} levels` })
      continue
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const item: unknown = v[i]
        if (item !== null && typeof item === 'object') stack.push([item, `${path}/${i}`, depth + 1])
      }
      continue
    }
    const keys = Object.keys(v)
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]
      const at = `${path}/${escape(key)}`
      if (FORBIDDEN_KEYS.has(key)) {
        problems.push({ path: at, message: `key ${key} is not allowed` })
        continue
      }
      const item: unknown = (v as Record<string, unknown>)[key]
      if (item !== null && typeof item === 'object') stack.push([item, at, depth + 1])
    }
  }
  return problems
}
