/**
 * Who is calling: the verified JWT claims (SPEC §3), checked once at authentication and then
 * carried in `socket.data` / `request.principal`.
 *
 * Token times (`exp`, `nbf`, the `iat` rule) are judged here, on the clock the authenticator is
 * given (`LifetimeRule.now`): Redis' clock when Redis is configured, so that every instance
 * gives a token the same verdict whatever its own clock says (SPEC §8). The verifier checks the
 * signature, algorithm, issuer, audience and required claims, and is told to leave the times
 * alone (fast-jwt's `ignoreExpiration` / `ignoreNotBefore`: its `clockTimestamp` is fixed when
 * the verifier is built).
 */
import { Type } from '../schemas/type.js'
import { compileValidator } from '../schemas/validate.js'
import { appError, isAppError } from '../errors.js'

export type Role = 'user' | 'service' | 'admin'

export interface Principal {
  sub: string
  name?: string
  role: Role
  /** room patterns the principal is limited to; undefined when the token has no `rooms` claim */
  rooms?: string[]
  /** token expiry, epoch ms */
  exp: number
}

const Claims = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 128 }),
  exp: Type.Number(),
  nbf: Type.Optional(Type.Number()),
  iat: Type.Optional(Type.Number()),
  name: Type.Optional(Type.String({ maxLength: 256 })),
  role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('service'), Type.Literal('admin')])),
  rooms: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}\\*?$|^\\*$' }), { maxItems: 1000 }))
})
const checkClaims = compileValidator(Claims)

/**
 * A verify function: returns (or resolves to) the decoded claims, or throws fast-jwt's TokenError
 * (or a catalog error: JWKS). It does not judge `exp` and `nbf`: the authenticator does, on its clock.
 */
export type TokenVerifier = (token: string) => unknown

/** Resolves to the principal, or rejects with a catalog error (`unauthorized`, `token_expired`, `unavailable`). */
export type Authenticate = (token: unknown) => Promise<Principal>

/** How far in the future `iat` may be (clock skew between the issuer and this instance). */
export const IAT_LEEWAY_S = 60

export interface LifetimeRule {
  /** JWT_MAX_TTL_S: the longest lifetime accepted, in seconds; undefined for no limit */
  maxTtlS?: number
  /**
   * The clock token times are judged on (epoch ms): Redis' clock when Redis is configured
   * (`fastify.redis.now`), the local clock in in-process mode (the default)
   */
  now?: () => number
}

/**
 * Wraps the JWT verifier (@fastify/jwt, or fast-jwt over a JWKS) so that REST, the socket
 * handshake and auth:refresh get the same principal and the same contract codes for every failure:
 * `exp` passed (`now() > exp`, as fast-jwt judges it) is `token_expired`; `nbf` not reached, `iat`
 * more than IAT_LEEWAY_S ahead, or a lifetime over `maxTtlS` is `unauthorized`.
 */
export function createAuthenticator (verify: TokenVerifier, lifetime: LifetimeRule = {}): Authenticate {
  const now = lifetime.now ?? Date.now
  return async function authenticate (token) {
    if (token === undefined || token === null || token === '') throw appError('unauthorized', 'missing token')
    if (typeof token !== 'string') throw appError('unauthorized', 'malformed token: it must be a string')
    let claims: unknown
    try {
      claims = await verify(token)
    } catch (err) {
      const { code, message, originalError } = err as { code?: string, message?: string, originalError?: unknown }
      // the key lookup's own verdict (JWKS: unknown kid, no key set yet)
      if (isAppError(err)) throw err
      if (isAppError(originalError)) throw originalError
      if (code === 'FAST_JWT_EXPIRED') throw appError('token_expired', 'token expired')
      throw appError('unauthorized', describeTokenError(code, message))
    }
    // the times, in fast-jwt's order (nbf, then exp) and before the other claims, as it did them
    const nowMs = now()
    const { nbf, exp } = (claims ?? {}) as { nbf?: unknown, exp?: unknown }
    if (typeof nbf === 'number' && nowMs < nbf * 1000) throw appError('unauthorized', 'token not yet valid')
    if (typeof exp === 'number' && nowMs > exp * 1000) throw appError('token_expired', 'token expired')
    let c
    try {
      c = checkClaims(claims)
    } catch {
      throw appError('unauthorized', 'token claims are invalid')
    }
    // the token lifetime rule (README "Identity"): iat not in the future, exp not too far off
    const nowS = nowMs / 1000
    if (c.iat !== undefined && c.iat > nowS + IAT_LEEWAY_S) throw appError('unauthorized', 'token issued in the future (iat)')
    if (lifetime.maxTtlS !== undefined && c.exp - (c.iat ?? nowS) > lifetime.maxTtlS) {
      throw appError('unauthorized', `token lifetime (exp - iat) exceeds JWT_MAX_TTL_S (${lifetime.maxTtlS} s)`)
    }
    const principal: Principal = { sub: c.sub, role: c.role ?? 'user', exp: c.exp * 1000 }
    if (c.name !== undefined) principal.name = c.name
    if (c.rooms !== undefined) principal.rooms = c.rooms
    return principal
  }
}

/** fast-jwt names the claim in its messages ("The iss claim is required."): say which one */
function claimIn (message: string | undefined): string {
  return /\b(iss|aud|exp|nbf|iat|sub|jti)\b/.exec(message ?? '')?.[1] ?? 'a claim'
}

function describeTokenError (code: string | undefined, message: string | undefined): string {
  switch (code) {
    case 'FAST_JWT_MALFORMED': case 'FAST_JWT_INVALID_TYPE': return 'malformed token'
    case 'FAST_JWT_INVALID_SIGNATURE': return 'invalid token signature'
    case 'FAST_JWT_INVALID_ALGORITHM': return 'token algorithm not allowed'
    case 'FAST_JWT_MISSING_SIGNATURE': return 'unsigned tokens are not allowed'
    case 'FAST_JWT_INVALID_CLAIM_VALUE': return `token ${claimIn(message)} not accepted`
    case 'FAST_JWT_INVALID_CLAIM_TYPE': return `token ${claimIn(message)} has the wrong type`
    case 'FAST_JWT_MISSING_REQUIRED_CLAIM': return `token lacks the required claim ${claimIn(message)}`
    case 'FAST_JWT_INACTIVE': return 'token not yet valid'
    default: return 'invalid token'
  }
}

/** Extracts a bearer token from an Authorization header value. */
export function bearerToken (header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}
