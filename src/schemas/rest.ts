/**
 * One verdict per payload on both transports (SPEC §4): REST bodies are parsed as plain JSON and
 * judged by the same TypeBox checker as socket payloads (compileValidator: no coercion, the JSON
 * rules of json-guard.ts, `details` with JSON pointers); only query strings, path parameters and
 * headers, which are text, go through Fastify's coercing Ajv.
 */
import type { FastifyRequest, FastifyServerOptions } from 'fastify'
import AjvCompiler from '@fastify/ajv-compiler'
import { appError } from '../errors.js'
import { compileValidator, invalidPayload } from './validate.js'
import { jsonProblems } from './json-guard.js'
import type { TSchema } from './type.js'

interface RouteSchemaDef { schema: unknown, method: string, url: string, httpPart?: string }
type FastifyValidator = (data: unknown) => boolean | { error: Error }
type BuildValidator = (externalSchemas: unknown, ajvOptions: unknown) => (def: RouteSchemaDef) => FastifyValidator

/** `schemaController.compilersFactory.buildValidator` for the server options. */
export const buildValidator: BuildValidator = (externalSchemas, ajvOptions) => {
  const ajv = (AjvCompiler as unknown as () => BuildValidator)()(externalSchemas, ajvOptions)
  return (def) => {
    if (def.httpPart !== 'body') return ajv(def)
    const check = compileValidator(def.schema as TSchema)
    return (data) => {
      try {
        check(data)
        return true
      } catch (err) {
        return { error: err as Error }
      }
    }
  }
}

export const schemaController: FastifyServerOptions['schemaController'] = {
  compilersFactory: { buildValidator: buildValidator as never }
}

/**
 * The `application/json` body parser: `JSON.parse` (an own `__proto__` key is data, not a
 * prototype), then the JSON rules, so a `__proto__` key is `invalid_payload` with `details`
 * like on a socket, not "not valid JSON".
 */
export function parseJsonBody (_request: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void): void {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    done(appError('invalid_payload', 'body is not valid JSON', { details: [{ path: '/', message: 'is not valid JSON' }] }))
    return
  }
  const problems = jsonProblems(value)
  if (problems.length > 0) {
    done(invalidPayload(problems))
    return
  }
  done(null, value)
}
