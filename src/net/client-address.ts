/**
 * The client address (SPEC §2 `TRUST_PROXY`), one rule for REST and the socket handshake (per-IP
 * limits, logs), with Fastify's own `trustProxy` semantics (@fastify/proxy-addr):
 *
 * - not set: the TCP peer; `X-Forwarded-For` is ignored (a client could write anything there);
 * - `true`, a hop count, or a list of addresses/CIDRs (and proxy-addr's names `loopback`,
 *   `linklocal`, `uniquelocal`): walk from the TCP peer leftwards through `X-Forwarded-For`
 *   while the address is trusted; the first untrusted one (the right-most untrusted entry) is
 *   the client. Entries that are not IP addresses are skipped, and when none is left the
 *   address is the last one walked (the TCP peer if the header has no IP at all).
 *
 * The result is always a valid IP address (IPv4-mapped IPv6 turned into IPv4), so a header value
 * never becomes a Redis key or a log field.
 */
import { isIP } from 'node:net'
import proxyaddr from '@fastify/proxy-addr'

/** TRUST_PROXY parsed: false when unset. */
export type TrustProxy = boolean | number | string[]

export type TrustFn = (address: string, hop: number) => boolean

/** The trust function Fastify builds from its `trustProxy` option; undefined when nothing is trusted. Throws on a bad address list. */
export function trustFunction (trust: TrustProxy): TrustFn | undefined {
  if (trust === false) return undefined
  if (trust === true) return () => true
  if (typeof trust === 'number') return (_address, hop) => hop < trust
  return proxyaddr.compile(trust)
}

/** A valid IP address from a header entry or socket address, else undefined. */
export function normalizeAddress (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const s = value.trim()
  if (s.length > 64 || isIP(s) === 0) return undefined
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(s)
  return mapped !== null ? mapped[1] : s.toLowerCase()
}

export type ClientAddress = (peer: string | undefined, forwardedFor: string | string[] | undefined) => string

/** Builds the one function that gives the client address of a request or a handshake. */
export function createClientAddress (trust: TrustProxy): ClientAddress {
  const trusted = trustFunction(trust)
  return function clientAddress (peer, forwardedFor) {
    // a destroyed socket has no remoteAddress; it must still be a valid IP for a key
    const tcp = normalizeAddress(peer) ?? '0.0.0.0'
    if (trusted === undefined || forwardedFor === undefined || !trusted(tcp, 0)) return tcp
    const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',')
    let address = tcp
    let hop = 1
    for (let k = entries.length - 1; k >= 0; k--) {
      const entry = normalizeAddress(entries[k])
      if (entry === undefined) continue
      address = entry
      if (!trusted(entry, hop++)) return entry
    }
    return address
  }
}

/** Parses TRUST_PROXY: `true`/`false`, a hop count, or a comma list; throws Error naming a bad entry. */
export function parseTrustProxy (value: string | undefined): TrustProxy {
  if (value === undefined || value.trim() === '' || value.trim() === 'false') return false
  const v = value.trim()
  if (v === 'true') return true
  if (/^\d+$/.test(v)) return Number(v)
  const list = v.split(',').map(s => s.trim()).filter(Boolean)
  proxyaddr.compile(list)
  return list
}
