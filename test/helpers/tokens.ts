/** Mints test tokens with fast-jwt (the library behind @fastify/jwt), good and deliberately bad. */
import { createSigner } from 'fast-jwt'
import { generateKeyPairSync } from 'node:crypto'

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!'

export interface Claims {
  sub?: string
  name?: string
  role?: 'user' | 'service' | 'admin'
  rooms?: string[]
  exp?: number
  iss?: string
  aud?: string
  [k: string]: unknown
}

/** HS256 token valid for `ttlS` seconds (default one hour) unless `exp` is given. */
export function token (claims: Claims = {}, opts: { secret?: string, ttlS?: number } = {}): string {
  const sign = createSigner({ key: opts.secret ?? TEST_SECRET, algorithm: 'HS256', noTimestamp: false })
  const body: Claims = { sub: 'alice', ...claims }
  if (body.exp === undefined) body.exp = Math.floor(Date.now() / 1000) + (opts.ttlS ?? 3600)
  return sign(body)
}

export function keyPair (type: 'rsa' | 'ec' = 'rsa'): { publicKey: string, privateKey: string } {
  return type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
    : generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
}

export function signWith (key: string, algorithm: 'RS256' | 'ES256' | 'HS256', claims: Claims = {}): string {
  const sign = createSigner({ key, algorithm })
  return sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600, ...claims })
}

/** An unsigned `alg: none` token (must be refused). */
export function unsignedToken (claims: Claims = {}): string {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}.`
}
