/**
 * Maps what ioredis throws to the catalog: a lost, slow or not-yet-ready connection is
 * `unavailable` (SPEC §8: nothing was written, retry later); a script or command error is a bug
 * and becomes `internal`.
 */
import { appError, isAppError, type AppError } from '../../errors.js'

const TRANSIENT_REPLY = /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|MOVED|ASK|NOSCRIPT)/

export function storeError (err: unknown): AppError {
  if (isAppError(err)) return err
  const e = err as { name?: string, message?: string }
  if (e?.name === 'ReplyError' && !TRANSIENT_REPLY.test(e.message ?? '')) {
    return appError('internal', 'internal error', { cause: err })
  }
  return appError('unavailable', 'storage is unavailable, nothing was written; retry later', { cause: err })
}
