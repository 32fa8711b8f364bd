/**
 * Builds the app exactly as production does (src/build.ts), listening on a free port, with a
 * configuration from an env-like object, and tears it down after the test.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { parseConfig, type Config } from '../../src/config.js'
import { buildServer, serverOptions } from '../../src/build.js'
import app from '../../src/app.js'
import { TEST_SECRET } from './tokens.js'
import { closeAll } from './socket.js'

export type Env = Record<string, string | undefined>

export const baseEnv = (extra: Env = {}): Env => ({
  NODE_ENV: 'test',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  HOST: '127.0.0.1',
  PORT: '0',
  JWT_SECRET: TEST_SECRET,
  TRANSPORTS: 'websocket,polling',
  ...extra
})

export interface TestApp {
  app: FastifyInstance
  url: string
  config: Config
  close: () => Promise<void>
}

export async function startApp (t: Test, env: Env = {}): Promise<TestApp> {
  const config = parseConfig(baseEnv(env))
  const app = await buildServer(config)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    closeAll()
    await app.close()
  }
  t.teardown(close)
  return { app, url: `http://127.0.0.1:${port}`, config, close }
}

/**
 * The server as src/build.ts makes it, keeping a handle on the app's own (encapsulated)
 * context, for tests that need the real `io` (its namespaces, sockets, one more middleware).
 */
export async function startInner (t: Test, env: Env = {}): Promise<TestApp & { inner: FastifyInstance }> {
  const config = parseConfig(baseEnv(env))
  const fastify = Fastify(serverOptions(config))
  let inner: FastifyInstance | undefined
  await fastify.register(async (f, opts: { config: Config }) => { await app(f, opts); inner = f }, { config })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    closeAll()
    await fastify.close()
  }
  t.teardown(close)
  const addr = fastify.server.address()
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`
  return { app: fastify as unknown as FastifyInstance, inner: inner as FastifyInstance, url, config, close }
}

/** A JSON HTTP call with an optional bearer token. */
export async function http (url: string, opts: { method?: string, token?: string, body?: unknown, headers?: Record<string, string> } = {}): Promise<{ status: number, body: any, headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
  let body: string | undefined
  if (opts.body !== undefined) {
    headers['content-type'] ??= 'application/json'
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
  }
  const res = await fetch(url, { method: opts.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body, signal: AbortSignal.timeout(5000) })
  const text = await res.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch {}
  return { status: res.status, body: parsed, headers: res.headers }
}
