/**
 * Handshake authentication (SPEC §3, §4): the token comes from `auth.token` or the
 * `Authorization: Bearer` header, never from the query string. A refused handshake is a
 * `connect_error` whose `message` is the contract code and whose `data` is `{ code, message }`.
 */
import { normalizeError, appError } from '../errors.js'
import { bearerToken, type Authenticate, type Role } from '../domain/principal.js'
import type { AppSocket } from './types.js'

type Next = (err?: Error) => void

/** The handshake's token: `auth.token`, else the `Authorization: Bearer` header (never the query string). */
export function handshakeToken (auth: unknown, headers: { authorization?: unknown }): unknown {
  return (auth as { token?: unknown } | undefined)?.token ?? bearerToken(headers.authorization)
}

export function connectError (err: unknown): Error {
  const e = normalizeError(err)
  const out = new Error(e.code) as Error & { data: { code: string, message: string } }
  out.data = { code: e.code, message: e.message }
  return out
}

export interface HandshakeAuthOptions {
  authenticate: Authenticate
  /** when set, only these roles may connect (the /admin namespace) */
  roles?: Role[]
}

export function createHandshakeAuth (opts: HandshakeAuthOptions) {
  return function handshakeAuth (socket: AppSocket, next: Next): void {
    opts.authenticate(handshakeToken(socket.handshake.auth, socket.handshake.headers)).then((principal) => {
      if (opts.roles !== undefined && !opts.roles.includes(principal.role)) {
        throw appError('forbidden', `requires role ${opts.roles.join(' or ')}`)
      }
      socket.data.principal = principal
      next()
    }).catch((err: unknown) => { next(connectError(err)) })
  }
}
