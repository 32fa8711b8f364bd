/**
 * The one factory for the server: Fastify options from the config, the TypeBox type provider,
 * and the app plugin. Used by `server.ts` and by the tests, so tests run production settings.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { pino } from 'pino'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import app from './app.js'
import type { Config } from './config.js'
import { schemaController } from './schemas/rest.js'
import { clientErrorHandler, frameworkErrors } from './http/framework-errors.js'
import { requestLogFields } from './http/log-fields.js'
import { createClientAddress, trustFunction } from './net/client-address.js'

/** Paths that never reach a log line: tokens live only in `auth` or the Authorization header. */
export const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'auth.token',
  'token',
  '*.token'
]

export function serverOptions (config: Config): FastifyServerOptions {
  const clientAddress = createClientAddress(config.trustProxy)
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: LOG_REDACT, censor: '[redacted]' },
      base: { instance: config.instanceId },
      // readable lines for a person at a terminal in development (pino-pretty, the ecosystem's
      // printer); JSON lines everywhere else, for log collectors
      ...(config.NODE_ENV === 'development' && process.stdout.isTTY
        ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } }
        // JSON lines written synchronously: pino's default asynchronous destination flushes its
        // buffer at exit and (sonic-boom 4.2) retries a broken pipe (`… | head`, a crashed log
        // shipper) every 100 ms forever, so a drain never ended; a synchronous write fails once
        // and pino stops logging to that pipe (test/cluster/drain-broken-stdout.test.ts)
        : { stream: pino.destination({ dest: 1, sync: true }) }),
      // the request line without its query string (a token put there by mistake), and the
      // client address of TRUST_PROXY (always a valid IP)
      serializers: { req: requestLogFields(clientAddress) }
    },
    // health/live must keep answering during the drain; ready answers 503 by itself
    return503OnClosing: false,
    bodyLimit: 64 * 1024,
    // a path parameter may be a 128-character user or room id (SPEC §3), url-encoded (up to 12
    // bytes a character); the default of 100 would turn valid ids into errors
    routerOptions: { maxParamLength: 128 * 12 },
    // TRUST_PROXY (SPEC §2): Fastify's request.ip / protocol / hostname follow the same trust as
    // the one client-address rule (src/net/client-address.ts), which the limits and logs use
    trustProxy: trustFunction(config.trustProxy) ?? false,
    // bodies: the sockets' TypeBox checker, never coerced; query strings, params, headers: Ajv below
    schemaController,
    // errors raised before routing (a bad percent-encoding) in the contract's shape too
    frameworkErrors,
    // errors of Node's HTTP parser (headers too large, a malformed request line) too
    clientErrorHandler,
    ajv: {
      customOptions: {
        // reject unknown fields instead of silently dropping them
        removeAdditional: false,
        coerceTypes: 'array',
        allErrors: true
      }
    }
  }
}

export async function buildServer (config: Config): Promise<FastifyInstance> {
  const fastify = Fastify(serverOptions(config)).withTypeProvider<TypeBoxTypeProvider>()
  await fastify.register(app, { config })
  return fastify as unknown as FastifyInstance
}
