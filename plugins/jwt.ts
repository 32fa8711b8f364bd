/**
 * Identity (SPEC §3): @fastify/jwt is the one verifier, used by REST (`Authorization: Bearer`)
 * and by the Socket.IO handshake through `fastify.authenticate`. The algorithm list is pinned
 * (HS256 with JWT_SECRET, or JWT_ALGORITHMS with JWT_PUBLIC_KEY), so `alg: none` and HS/RS
 * confusion are refused; `exp` is required; issuer and audience are enforced when configured.
 * Token times (`exp`, `nbf`, `iat`) are judged by the authenticator on Redis' clock when Redis is
 * configured (SPEC §8: every instance, whatever its own clock, gives a token the same verdict);
 * the verifiers are told to leave them alone (src/domain/principal.ts).
 */
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { createVerifier } from 'fast-jwt'
import { JwksKeys } from '../src/domain/jwks.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { appError } from '../src/errors.js'
import { bearerToken, createAuthenticator, type Authenticate, type Principal, type Role } from '../src/domain/principal.js'

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: Authenticate
    /** the principal of the request's bearer token, verified once per request (the REST rate limiter asks before requireAuth); rejects like requireAuth */
    authenticateRequest: (request: FastifyRequest) => Promise<Principal>
    /** onRequest hook: requires a valid bearer token and sets `request.principal` (before validation, so an anonymous caller gets 401, not 400) */
    requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** onRequest hook factory: requires one of the roles (after requireAuth) */
    requireRole: (...roles: Role[]) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

export default fp(async (fastify) => {
  const c = fastify.config
  // Redis' clock (an offset added to the local one), or the local clock in in-process mode
  const now = fastify.redis?.now ?? Date.now
  const verify = {
    algorithms: c.jwtAlgorithms as Array<'HS256'>,
    // judged by the authenticator on `now` (fast-jwt's clockTimestamp is fixed per verifier)
    ignoreExpiration: true,
    ignoreNotBefore: true,
    // an issuer / audience that is configured must also be present, not merely right when present
    requiredClaims: ['exp', ...(c.JWT_ISSUER !== undefined ? ['iss'] : []), ...(c.JWT_AUDIENCE !== undefined ? ['aud'] : [])],
    ...(c.JWT_ISSUER !== undefined && { allowedIss: c.JWT_ISSUER }),
    ...(c.JWT_AUDIENCE !== undefined && { allowedAud: c.JWT_AUDIENCE })
  }
  let verifyToken: (token: string) => unknown
  if (c.JWT_JWKS_URL !== undefined) {
    // SPEC §2 JWT_JWKS_URL: the key is the provider's, chosen by the token's kid
    const log = fastify.log.child({ component: 'jwks' })
    const jwks = new JwksKeys({ url: c.JWT_JWKS_URL, onError: (err) => log.warn({ err: { message: (err as Error).message } }, 'JWKS fetch failed') })
    const verifier = createVerifier({
      key: async (decoded: { header: { kid?: unknown, alg?: unknown } }) => await jwks.key(decoded.header),
      algorithms: c.jwtAlgorithms as never,
      requiredClaims: verify.requiredClaims,
      ignoreExpiration: true,
      ignoreNotBefore: true,
      ...(c.JWT_ISSUER !== undefined && { allowedIss: c.JWT_ISSUER }),
      ...(c.JWT_AUDIENCE !== undefined && { allowedAud: c.JWT_AUDIENCE })
    })
    verifyToken = async (token) => await verifier(token)
    // not awaited: an endpoint that is down at start leaves authentication answering unavailable
    jwks.refresh().then(() => { if (jwks.ready) log.info({ url: c.JWT_JWKS_URL }, 'JWKS key set fetched') }, () => {})
  } else {
    if (c.JWT_PUBLIC_KEY !== undefined) {
      await fastify.register(fastifyJwt, { secret: { public: c.JWT_PUBLIC_KEY }, verify })
    } else {
      await fastify.register(fastifyJwt, { secret: c.JWT_SECRET as string, sign: { algorithm: 'HS256' }, verify })
    }
    verifyToken = (token) => fastify.jwt.verify(token)
  }
  if (c.usingDevSecret) {
    fastify.log.warn('!!! NO JWT_SECRET OR JWT_PUBLIC_KEY SET: using the PUBLIC DEVELOPMENT SECRET. Anyone can mint tokens. Never run like this in production. !!!')
  }

  const authenticate = createAuthenticator(verifyToken, { maxTtlS: c.JWT_MAX_TTL_S, now })
  fastify.decorate('authenticate', authenticate)
  fastify.decorateRequest('principal', null)

  // the outcome (principal or error) is kept per request, so a token is verified only once
  const verified = new WeakMap<FastifyRequest, Promise<Principal>>()
  fastify.decorate('authenticateRequest', async (request: FastifyRequest): Promise<Principal> => {
    let outcome = verified.get(request)
    if (outcome === undefined) {
      const header = request.headers.authorization
      const token = bearerToken(header)
      outcome = token === undefined
        ? Promise.reject(appError('unauthorized', header === undefined ? 'missing bearer token' : 'malformed Authorization header'))
        : authenticate(token)
      outcome.catch(() => {})
      verified.set(request, outcome)
    }
    return await outcome
  })

  fastify.decorate('requireAuth', async (request: FastifyRequest) => {
    request.principal = await fastify.authenticateRequest(request)
  })

  fastify.decorate('requireRole', (...roles: Role[]) => async (request: FastifyRequest) => {
    if (request.principal === null || !roles.includes(request.principal.role)) {
      throw appError('forbidden', `requires role ${roles.join(' or ')}`)
    }
  })
}, { name: 'jwt', dependencies: ['config', 'redis'], fastify: '5.x' })
