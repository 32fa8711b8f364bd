/**
 * The key set of an identity provider (SPEC §2 JWT_JWKS_URL): public keys by `kid`, fetched
 * from its JWKS endpoint and cached. A token whose `kid` is unknown triggers one fetch when the
 * last one is at least 10 s old (key rotation needs no restart, and a flood of made-up `kid`s
 * costs the provider one request per 10 s); concurrent lookups share one fetch. Until a key set
 * has been fetched once (the endpoint is down at start), every lookup answers `unavailable`;
 * afterwards an endpoint that is down keeps the cached keys.
 *
 * Keys are JWKs turned into PEM with node:crypto; only RSA and EC keys meant for signatures
 * (`use` absent or `sig`) are kept, and a key that names its `alg` serves only that algorithm.
 */
import { createPublicKey } from 'node:crypto'
import { appError } from '../errors.js'

export const JWKS_REFETCH_MS = 10_000
/** the most a fetch of the key set may take (the request deadline is 2 s, SPEC §8) */
export const JWKS_FETCH_TIMEOUT_MS = 1500

interface Jwk { kid?: unknown, kty?: unknown, use?: unknown, alg?: unknown, [k: string]: unknown }
interface Key { pem: string, alg?: string }

export interface JwksOptions {
  /** the provider's JWKS endpoint */
  url: string
  /** epoch ms (tests) */
  now?: () => number
  /** told of every failed fetch (logs) */
  onError?: (err: unknown) => void
}

export class JwksKeys {
  readonly #url: string
  readonly #now: () => number
  readonly #onError: ((err: unknown) => void) | undefined
  #keys: Map<string, Key> | undefined
  #fetchedAt = -Infinity
  #inflight: Promise<void> | undefined

  constructor (opts: JwksOptions) {
    this.#url = opts.url
    this.#now = opts.now ?? Date.now
    this.#onError = opts.onError
  }

  /** true once a key set has been fetched */
  get ready (): boolean { return this.#keys !== undefined }

  /** Fetches the key set now (at start; later only through `key`). Never throws. */
  async refresh (): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => { this.#inflight = undefined })
    await this.#inflight
  }

  /**
   * The PEM public key for a token header `{ kid, alg }`.
   * Throws `unauthorized` (no kid, unknown kid, alg the key is not for) or `unavailable` (no key set yet).
   */
  async key (header: { kid?: unknown, alg?: unknown }): Promise<string> {
    const kid = header.kid
    if (typeof kid !== 'string' || kid.length === 0) throw appError('unauthorized', 'token has no kid')
    let k = this.#keys?.get(kid)
    if (k === undefined && (this.#keys === undefined || this.#now() - this.#fetchedAt >= JWKS_REFETCH_MS)) {
      await this.refresh()
      k = this.#keys?.get(kid)
    }
    if (this.#keys === undefined) throw appError('unavailable', 'the identity provider\'s key set could not be fetched yet')
    if (k === undefined) throw appError('unauthorized', 'token kid is not in the identity provider\'s key set')
    if (k.alg !== undefined && k.alg !== header.alg) throw appError('unauthorized', 'token algorithm does not match its key')
    return k.pem
  }

  async #fetch (): Promise<void> {
    try {
      const res = await fetch(this.#url, { signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } })
      if (!res.ok) throw new Error(`JWKS endpoint answered ${res.status}`)
      const body = await res.json() as { keys?: unknown }
      if (!Array.isArray(body.keys)) throw new Error('JWKS document has no keys array')
      const keys = new Map<string, Key>()
      for (const jwk of body.keys as Jwk[]) {
        if (typeof jwk?.kid !== 'string' || (jwk.kty !== 'RSA' && jwk.kty !== 'EC') || (jwk.use !== undefined && jwk.use !== 'sig')) continue
        try {
          const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
          keys.set(jwk.kid, { pem, ...(typeof jwk.alg === 'string' && { alg: jwk.alg }) })
        } catch {}
      }
      this.#keys = keys
    } catch (err) {
      this.#onError?.(err)
    } finally {
      // failures count too: an endpoint that is down is asked again after 10 s, not per token
      // (until the first key set arrives, when every lookup may ask: see `key`)
      this.#fetchedAt = this.#now()
    }
  }
}
