/**
 * `npm run token -- --sub alice [--name Alice] [--role admin] [--rooms 'team-1:*,lobby'] [--ttl 1h]`
 * prints a JWT signed with the configured key (JWT_SECRET, or the dev secret), for trying the
 * API. With JWT_PUBLIC_KEY configured the server cannot sign: pass `--private-key <pem file>`
 * (and optionally `--alg ES256`).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { parseConfig, ConfigError } from '../config.js'

const USAGE = 'usage: npm run token -- --sub <id> [--name <name>] [--role user|service|admin] [--rooms <a,b:*>] [--ttl 1h|30m|3600s] [--private-key <pem>] [--alg RS256|ES256]'

export function parseTtl (ttl: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(ttl.trim())
  if (m === null) throw new Error(`invalid --ttl ${ttl}; expected e.g. 3600, 90s, 30m, 1h, 7d`)
  const n = Number(m[1])
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
  return n * unit
}

function main (): void {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      rooms: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      'private-key': { type: 'string' },
      alg: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  })
  if (values.help === true || values.sub === undefined || values.sub === '') {
    process.stderr.write(USAGE + '\n')
    process.exit(values.help === true ? 0 : 2)
  }
  if (values.role !== undefined && !['user', 'service', 'admin'].includes(values.role)) {
    throw new Error(`invalid --role ${values.role}; expected user, service or admin`)
  }
  const config = parseConfig(process.env)
  const claims: Record<string, unknown> = {
    sub: values.sub,
    exp: Math.floor(Date.now() / 1000) + parseTtl(values.ttl ?? '1h')
  }
  if (values.name !== undefined) claims.name = values.name
  if (values.role !== undefined) claims.role = values.role
  if (values.rooms !== undefined) claims.rooms = values.rooms.split(',').map(s => s.trim()).filter(Boolean)
  if (config.JWT_ISSUER !== undefined) claims.iss = config.JWT_ISSUER
  if (config.JWT_AUDIENCE !== undefined) claims.aud = config.JWT_AUDIENCE

  let sign: (payload: Record<string, unknown>) => string
  if (config.JWT_PUBLIC_KEY !== undefined) {
    if (values['private-key'] === undefined) {
      throw new Error('JWT_PUBLIC_KEY is configured: pass --private-key <pem file> to sign')
    }
    const alg = (values.alg ?? config.jwtAlgorithms[0]) as 'RS256'
    sign = createSigner({ key: readFileSync(values['private-key'], 'utf8'), algorithm: alg })
  } else {
    if (config.usingDevSecret) process.stderr.write('warning: signing with the public development secret\n')
    sign = createSigner({ key: config.JWT_SECRET as string, algorithm: 'HS256' })
  }
  process.stdout.write(sign(claims) + '\n')
}

try {
  main()
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? '' : 'error: '}${(err as Error).message}\n`)
  process.exit(1)
}
