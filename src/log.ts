/**
 * The one logger type below the plugins: pino's own, narrowed to what Fastify promises of
 * `fastify.log` (FastifyBaseLogger picks these from pino's BaseLogger), so code in src/ takes
 * the app's logger or a child of it without importing fastify.
 */
import type { BaseLogger } from 'pino'

export type Logger = Pick<BaseLogger, 'level' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>
