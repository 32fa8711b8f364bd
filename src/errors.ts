/**
 * The one error catalog (SPEC §4). Each error carries the contract's `code` and HTTP status.
 * `toAck` turns any error into the socket acknowledgement shape and `toRestError` into the REST
 * body; both hide the internals of errors that are not in the catalog.
 */
import createError, { type FastifyErrorConstructor } from '@fastify/error'
import { STATUS_CODES } from 'node:http'

export type ErrorCode =
  | 'unauthorized' | 'token_expired' | 'forbidden' | 'invalid_payload' | 'not_found'
  | 'not_in_room' | 'payload_too_large' | 'rate_limited' | 'unavailable' | 'internal'

const STATUS: Record<ErrorCode, number> = {
  unauthorized: 401,
  token_expired: 401,
  forbidden: 403,
  invalid_payload: 400,
  not_found: 404,
  not_in_room: 409,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500
}

// only `internal` (a bug) captures a stack trace: every other code is an expected answer to the
// client (a refusal), made on the hot path — under overload thousands per second — where a stack
// per refusal costs CPU and garbage for nothing (issue 11)
const ctors = Object.fromEntries(
  (Object.keys(STATUS) as ErrorCode[]).map(code => [code, createError(code, '%s', STATUS[code], Error, code === 'internal')])
) as Record<ErrorCode, FastifyErrorConstructor>

export interface ErrorDetail { path: string, message: string }

/** An error of the catalog, with the optional fields the contract allows. */
export interface AppError extends Error {
  code: ErrorCode
  statusCode: number
  retryAfterMs?: number
  details?: ErrorDetail[]
}

/** An error of the catalog (a stack trace only for `internal`, see above). */
export function appError (code: ErrorCode, message: string, extra?: { retryAfterMs?: number, details?: ErrorDetail[], cause?: unknown }): AppError {
  const err = new ctors[code](message) as AppError
  // @fastify/error upper-cases codes; the contract's codes are lower case
  err.code = code
  if (extra?.retryAfterMs !== undefined) err.retryAfterMs = Math.max(0, Math.ceil(extra.retryAfterMs))
  if (extra?.details !== undefined) err.details = extra.details
  if (extra?.cause !== undefined) (err as Error).cause = extra.cause
  return err
}

export function isAppError (err: unknown): err is AppError {
  if (!(err instanceof Error)) return false
  const { code, statusCode } = err as unknown as { code?: unknown, statusCode?: unknown }
  return typeof code === 'string' && Object.hasOwn(STATUS, code) && statusCode === STATUS[code as ErrorCode]
}

/** Maps errors raised by Fastify and its plugins to the catalog; unknown errors become `internal`. */
export function normalizeError (err: unknown): AppError {
  if (isAppError(err)) return err
  const e = err as { code?: string, statusCode?: number, validation?: Array<{ instancePath?: string, message?: string, params?: Record<string, unknown> }>, validationContext?: string, message?: string }
  if (e?.validation) {
    const details = e.validation.map(v => ({
      path: `${e.validationContext ?? ''}${v.instancePath ?? ''}` || '/',
      message: v.message ?? 'is invalid'
    }))
    return appError('invalid_payload', `invalid request: ${details.map(d => `${d.path} ${d.message}`).join('; ')}`, { details })
  }
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return appError('payload_too_large', 'request body is too large')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return appError('invalid_payload', e.message ?? 'invalid request body', { details: [{ path: '/', message: e.message ?? 'invalid request body' }] })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      // bodies are JSON (SPEC §6); a form or text body is a payload that fails its schema
      return appError('invalid_payload', 'the body must be JSON (Content-Type: application/json)', { details: [{ path: '/', message: 'Content-Type must be application/json' }] })
  }
  if (e?.statusCode === 404) return appError('not_found', 'not found')
  if (e?.statusCode === 400) return appError('invalid_payload', e.message ?? 'invalid request')
  if (e?.statusCode === 429) return appError('rate_limited', 'rate limit exceeded')
  return appError('internal', 'internal error', { cause: err })
}

export interface AckError {
  ok: false
  error: { code: ErrorCode, message: string, retryAfterMs?: number, details?: ErrorDetail[] }
}

/** The socket acknowledgement for an error; internals of unknown errors are never sent. */
export function toAck (err: unknown): AckError {
  const e = normalizeError(err)
  const error: AckError['error'] = { code: e.code, message: e.message }
  if (e.retryAfterMs !== undefined) error.retryAfterMs = e.retryAfterMs
  if (e.details !== undefined) error.details = e.details
  return { ok: false, error }
}

export interface RestError {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
  retryAfterMs?: number
  details?: ErrorDetail[]
}

/** The REST error body for an error (SPEC §4 shape, plus `details` / `retryAfterMs` when set). */
export function toRestError (err: unknown): RestError {
  const e = normalizeError(err)
  const body: RestError = { statusCode: e.statusCode, code: e.code, error: STATUS_CODES[e.statusCode] ?? 'Error', message: e.message }
  if (e.retryAfterMs !== undefined) body.retryAfterMs = e.retryAfterMs
  if (e.details !== undefined) body.details = e.details
  return body
}
