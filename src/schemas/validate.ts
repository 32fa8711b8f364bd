/**
 * Compiles a TypeBox schema once and returns a checker that either returns the typed value or
 * throws `invalid_payload` with the failing paths (SPEC §4 `details`). The same checker judges
 * socket payloads and REST bodies (build.ts), so both transports give one verdict; the JSON
 * rules no schema states (binary, prototype keys, depth) are checked first (json-guard.ts).
 */
import { Compile } from 'typebox/compile'
import type { Static, TSchema } from './type.js'
import { appError, type ErrorDetail } from '../errors.js'
import { jsonProblems } from './json-guard.js'

const MAX_DETAILS = 10

export type Validator<T> = (value: unknown) => T

export function compileValidator<S extends TSchema> (schema: S): Validator<Static<S>> {
  const compiled = Compile(schema)
  return (value: unknown) => {
    const problems = jsonProblems(value)
    if (problems.length > 0) throw invalidPayload(problems)
    if (compiled.Check(value)) return value as Static<S>
    const details: ErrorDetail[] = []
    for (const e of compiled.Errors(value)) {
      // "schema is false" duplicates the additionalProperties error that follows it
      if (e.keyword === 'boolean') continue
      const extra = e.keyword === 'additionalProperties' && Array.isArray(e.params?.additionalProperties)
        ? ` (${(e.params.additionalProperties as string[]).slice(0, 5).join(', ')})`
        : ''
      details.push({ path: e.instancePath || '/', message: e.message + extra })
      if (details.length >= MAX_DETAILS) break
    }
    if (details.length === 0) details.push({ path: '/', message: 'is invalid' })
    throw invalidPayload(details)
  }
}

export function invalidPayload (details: ErrorDetail[]): Error {
  return appError('invalid_payload', `invalid payload: ${details.map(d => `${d.path} ${d.message}`).join('; ')}`, { details })
}
