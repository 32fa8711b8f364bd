/**
 * Configuration: one TypeBox schema for every environment variable, parsed once at start-up.
 * Nothing else in the code base reads `process.env`. A bad value throws a ConfigError whose
 * message is one line naming the variable and what was expected; `server.ts` prints it and
 * exits with code 1.
 */
import { Type, type Static, type TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { hostname } from 'node:os'
import { parseTrustProxy, type TrustProxy } from './net/client-address.js'

const Int = (def: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  Type.Integer({ default: def, minimum: min, maximum: max })

const CommaList = (pattern: string, description: string) =>
  Type.String({ pattern, description })

/** Every variable the service reads; defaults follow SPEC §2 and §7. */
export const ConfigSchema = Type.Object({
  PORT: Int(3000, 0, 65535),
  HOST: Type.String({ default: '0.0.0.0', minLength: 1 }),
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { default: 'info' }),

  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+', description: 'a redis:// or rediss:// URL' })),
  REDIS_CLUSTER_NODES: Type.Optional(CommaList('^[^,:\\s]+:\\d{1,5}(,[^,:\\s]+:\\d{1,5})*$', 'comma list of host:port')),
  /** Redis Sentinel (SPEC §2): the sentinels to ask, and the name of the monitored master group */
  REDIS_SENTINELS: Type.Optional(CommaList('^[^,:\\s]+:\\d{1,5}(,[^,:\\s]+:\\d{1,5})*$', 'comma list of host:port')),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'the master group name, 1-64 of A-Z a-z 0-9 _ . -' })),
  /** N > 0: an ack also waits until N replicas hold the message (Redis WAIT, within the 2 s bound) */
  REDIS_WAIT_REPLICAS: Int(0, 0, 16),
  REDIS_KEY_PREFIX: Type.String({ default: 'sb:', pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: '1-64 of A-Z a-z 0-9 _ . : -' }),
  ADAPTER: Type.Optional(Type.Union([Type.Literal('redis'), Type.Literal('redis-sharded'), Type.Literal('redis-streams')])),
  /** the PostgreSQL archive of every message (SPEC §2, §8); unset: history is only what Redis keeps */
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://.+', description: 'a postgres:// or postgresql:// URL' })),

  JWT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ pattern: '-----BEGIN [A-Z ]*PUBLIC KEY-----', description: 'a PEM public key' })),
  JWT_ALGORITHMS: Type.String({ default: 'RS256,ES256', pattern: '^(RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|EdDSA)(,(RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|EdDSA))*$', description: 'comma list of asymmetric algorithms' }),
  JWT_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'an http(s):// URL of a JWKS endpoint' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  /** unset: no limit; else a token's lifetime (exp - iat, or exp - now without iat) may not exceed it */
  JWT_MAX_TTL_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000, description: 'seconds, 1 to 31536000 (a year)' })),

  TRUST_PROXY: Type.Optional(Type.String({ description: 'true, a hop count, or a comma list of addresses/CIDRs of trusted proxies' })),
  CORS_ORIGINS: Type.Optional(Type.String({ description: 'comma list of origins, or *' })),
  TRANSPORTS: Type.String({ default: 'websocket,polling', pattern: '^(websocket|polling)(,(websocket|polling))?$', description: 'websocket and/or polling' }),
  ROOM_ACCESS: Type.Union([Type.Literal('open'), Type.Literal('claims')], { default: 'open' }),

  HISTORY_MAX_MESSAGES: Int(1000, 1, 1_000_000),
  MESSAGE_MAX_LENGTH: Int(4000, 1, 1_000_000),
  PRESENCE_TTL_MS: Int(30000, 1000, 3_600_000),
  RECOVERY_WINDOW_MS: Int(120000, 0, 86_400_000),
  SHUTDOWN_GRACE_MS: Int(10000, 100, 600_000),

  RATE_LIMIT_HTTP_MAX: Int(100, 0),
  RATE_LIMIT_HTTP_WINDOW_MS: Int(60000, 1),
  RATE_LIMIT_SEND_BURST: Int(20, 0),
  RATE_LIMIT_SEND_PER_SECOND: Type.Number({ default: 2, minimum: 0 }),
  RATE_LIMIT_EVENTS_PER_MINUTE: Int(120, 0),
  RATE_LIMIT_CONNECTIONS_PER_10S: Int(30, 0),
  MAX_FRAME_BYTES: Int(65536, 1024, 100 * 1024 * 1024),
  MAX_ROOMS_PER_SOCKET: Int(100, 1, 100_000),
  MAX_SOCKET_BUFFER_BYTES: Int(8388608, 1024),

  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  INSTANCE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: '1-64 of A-Z a-z 0-9 _ . -' }))
})

type Env = Static<typeof ConfigSchema>

export type AdapterKind = 'memory' | 'redis' | 'redis-sharded' | 'redis-streams'

/** The parsed, typed configuration with a few derived fields. */
export interface Config extends Omit<Env, 'ADAPTER'> {
  ADAPTER: AdapterKind
  /** true when no JWT_SECRET / JWT_PUBLIC_KEY was given and the dev secret is used */
  usingDevSecret: boolean
  corsOrigins: string[] | '*' | false
  /** TRUST_PROXY parsed (false when unset), see src/net/client-address.ts */
  trustProxy: TrustProxy
  transports: Array<'websocket' | 'polling'>
  jwtAlgorithms: string[]
  redisClusterNodes: Array<{ host: string, port: number }>
  /** REDIS_SENTINELS parsed (empty when unset) */
  redisSentinels: Array<{ host: string, port: number }>
  instanceId: string
}

/** The development secret: deliberately public; production refuses to start with it. */
export const DEV_JWT_SECRET = 'switchboard-dev-secret-do-not-use-in-production'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

function describe (schema: TSchema & Record<string, unknown>): string {
  const parts: string[] = []
  if (typeof schema.description === 'string') parts.push(schema.description)
  if (schema.type === 'integer') {
    parts.push(`an integer${schema.minimum !== undefined ? ` >= ${schema.minimum}` : ''}${schema.maximum !== undefined && schema.maximum !== Number.MAX_SAFE_INTEGER ? ` <= ${schema.maximum}` : ''}`)
  } else if (schema.type === 'number') {
    parts.push(`a number${schema.minimum !== undefined ? ` >= ${schema.minimum}` : ''}`)
  } else if (Array.isArray(schema.anyOf)) {
    parts.push('one of ' + (schema.anyOf as Array<{ const?: unknown }>).map(s => String(s.const)).join(', '))
  } else if (schema.type === 'string' && parts.length === 0) {
    parts.push(schema.minLength ? 'a non-empty string' : 'a string')
  }
  return parts.join(', ')
}

/**
 * Parses an environment object into a Config. Throws ConfigError (one line) on the first bad
 * variable. Empty strings count as unset.
 */
export function parseConfig (env: Record<string, string | undefined>): Config {
  const raw: Record<string, unknown> = {}
  const props = ConfigSchema.properties as unknown as Record<string, TSchema & Record<string, unknown>>
  for (const [name, schema] of Object.entries(props)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    // numbers must look like numbers: Convert alone would turn '1.5' into an integer 1
    const numeric = schema.type === 'integer' ? /^-?\d+$/ : schema.type === 'number' ? /^-?\d+(\.\d+)?$/ : undefined
    const converted = numeric !== undefined && !numeric.test(value.trim()) ? value : Value.Convert(schema, value.trim())
    if (!Value.Check(schema, converted)) {
      throw new ConfigError(`invalid configuration: ${name}=${JSON.stringify(redact(name, value))} is not valid; expected ${describe(schema)}`)
    }
    raw[name] = converted
  }
  const parsed = Value.Default(ConfigSchema, raw) as Env
  if (!Value.Check(ConfigSchema, parsed)) {
    const first = Value.Errors(ConfigSchema, parsed)[0]
    throw new ConfigError(`invalid configuration: ${first?.instancePath.slice(1) ?? 'environment'} ${first?.message ?? 'is invalid'}`)
  }
  return finish(parsed)
}

/** A comma list of host:port (already shape-checked by the schema) with each port in 1-65535. */
function hostPorts (name: string, value: string | undefined): Array<{ host: string, port: number }> {
  return (value ?? '').split(',').filter(Boolean).map(hp => {
    const i = hp.lastIndexOf(':')
    const port = Number(hp.slice(i + 1))
    if (port < 1 || port > 65535) {
      throw new ConfigError(`invalid configuration: ${name} has ${JSON.stringify(hp)}; expected a comma list of host:port with ports 1-65535`)
    }
    return { host: hp.slice(0, i), port }
  })
}

function redact (name: string, value: string): string {
  return /SECRET|TOKEN|PUBLIC_KEY/.test(name) ? '<redacted>' : value
}

function finish (env: Env): Config {
  const production = env.NODE_ENV === 'production'

  if (env.JWT_SECRET !== undefined && env.JWT_PUBLIC_KEY !== undefined) {
    throw new ConfigError('invalid configuration: JWT_SECRET and JWT_PUBLIC_KEY are both set; expected only one of them')
  }
  if (env.JWT_JWKS_URL !== undefined && (env.JWT_SECRET !== undefined || env.JWT_PUBLIC_KEY !== undefined)) {
    throw new ConfigError('invalid configuration: JWT_JWKS_URL is set with JWT_SECRET or JWT_PUBLIC_KEY; expected only one way to verify tokens')
  }
  // with JWT_JWKS_URL there is no secret at all: never the development one
  const usingDevSecret = env.JWT_SECRET === undefined && env.JWT_PUBLIC_KEY === undefined && env.JWT_JWKS_URL === undefined
  if (production && usingDevSecret) {
    throw new ConfigError('invalid configuration: JWT_SECRET or JWT_PUBLIC_KEY is required when NODE_ENV=production; expected a secret of at least 32 bytes or a PEM public key')
  }
  if (production && env.JWT_SECRET !== undefined && Buffer.byteLength(env.JWT_SECRET) < 32) {
    throw new ConfigError('invalid configuration: JWT_SECRET is too short; expected at least 32 bytes when NODE_ENV=production')
  }
  if (production && env.JWT_SECRET === DEV_JWT_SECRET) {
    throw new ConfigError('invalid configuration: JWT_SECRET is the development secret; expected a secret of your own when NODE_ENV=production')
  }

  const topologies = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter(name => env[name] !== undefined)
  if (topologies.length > 1) {
    throw new ConfigError(`invalid configuration: ${topologies.join(' and ')} are ${topologies.length === 2 ? 'both' : 'all'} set; expected at most one of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS`)
  }
  if ((env.REDIS_SENTINELS === undefined) !== (env.REDIS_SENTINEL_NAME === undefined)) {
    throw new ConfigError(`invalid configuration: ${env.REDIS_SENTINELS === undefined ? 'REDIS_SENTINEL_NAME is set without REDIS_SENTINELS' : 'REDIS_SENTINELS is set without REDIS_SENTINEL_NAME'}; expected both (the sentinels and the master group's name) or neither`)
  }
  const redisConfigured = topologies.length > 0
  if (!redisConfigured && env.REDIS_WAIT_REPLICAS > 0) {
    throw new ConfigError(`invalid configuration: REDIS_WAIT_REPLICAS=${env.REDIS_WAIT_REPLICAS} needs Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS); expected 0 in in-process mode`)
  }
  let adapter: AdapterKind
  if (!redisConfigured) {
    if (env.ADAPTER !== undefined) {
      throw new ConfigError(`invalid configuration: ADAPTER=${env.ADAPTER} needs REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS; expected it unset in in-process mode`)
    }
    adapter = 'memory'
  } else if (env.REDIS_CLUSTER_NODES !== undefined) {
    if (env.ADAPTER !== undefined && env.ADAPTER !== 'redis-sharded') {
      throw new ConfigError(`invalid configuration: ADAPTER=${env.ADAPTER} with REDIS_CLUSTER_NODES; expected redis-sharded (a cluster implies the sharded adapter)`)
    }
    adapter = 'redis-sharded'
  } else {
    adapter = env.ADAPTER ?? 'redis'
  }

  let corsOrigins: Config['corsOrigins']
  if (env.CORS_ORIGINS === undefined) {
    corsOrigins = production ? false : '*'
  } else if (env.CORS_ORIGINS.trim() === '*') {
    corsOrigins = '*'
  } else {
    const list = env.CORS_ORIGINS.split(',').map(s => s.trim()).filter(Boolean)
    for (const origin of list) {
      if (!/^https?:\/\/[^\s/]+$/.test(origin)) {
        throw new ConfigError(`invalid configuration: CORS_ORIGINS has ${JSON.stringify(origin)}; expected a comma list of origins like https://app.example.com, or *`)
      }
    }
    corsOrigins = list.length > 0 ? list : false
  }

  let trustProxy: TrustProxy
  try {
    trustProxy = parseTrustProxy(env.TRUST_PROXY)
  } catch {
    throw new ConfigError(`invalid configuration: TRUST_PROXY=${JSON.stringify(env.TRUST_PROXY)} is not valid; expected true, a hop count, or a comma list of IP addresses/CIDRs (or loopback, linklocal, uniquelocal)`)
  }

  return {
    ...env,
    ADAPTER: adapter,
    trustProxy,
    usingDevSecret,
    JWT_SECRET: usingDevSecret ? DEV_JWT_SECRET : env.JWT_SECRET,
    corsOrigins,
    transports: [...new Set(env.TRANSPORTS.split(','))] as Config['transports'],
    jwtAlgorithms: env.JWT_PUBLIC_KEY !== undefined || env.JWT_JWKS_URL !== undefined ? env.JWT_ALGORITHMS.split(',') : ['HS256'],
    redisClusterNodes: hostPorts('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES),
    redisSentinels: hostPorts('REDIS_SENTINELS', env.REDIS_SENTINELS),
    instanceId: env.INSTANCE_ID ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 32) || 'sb'}-${process.pid}-${Date.now().toString(36)}`
  }
}
