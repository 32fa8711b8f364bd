/**
 * `GET /demo` (SPEC §6, not in production): a small chat page on the browser bundle of
 * `switchboard/client`, built by esbuild (a development dependency) on the first request and kept
 * in memory, so no generated bundle is committed. `POST /demo/token { name }` hands out a
 * 15-minute user token only while the public development secret is in use.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createSigner } from 'fast-jwt'
import { fileURLToPath } from 'node:url'
import { join, resolve } from 'node:path'
import { Type } from '../src/schemas/type.js'
import { appError } from '../src/errors.js'
import { DEV_JWT_SECRET } from '../src/config.js'
import { DEMO_HTML } from '../src/demo/page.js'

const here = fileURLToPath(new URL('.', import.meta.url))
/** the checkout's root, from routes/ (tsx) or dist/routes/ (built) */
const ROOT = resolve(here, here.includes('/dist/') ? '../..' : '..')
const TOKEN_TTL_S = 15 * 60

const TokenBody = Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }) }, { additionalProperties: false })

/** The page's script: src/demo/app.ts with the client and socket.io-client, minified. */
export async function buildDemoBundle (): Promise<string> {
  const esbuild = await import('esbuild')
  const out = await esbuild.build({
    entryPoints: [join(ROOT, 'src/demo/app.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'silent'
  })
  return out.outputFiles[0].text
}

const demoRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const c = fastify.config
  if (c.NODE_ENV === 'production') return
  let bundle: Promise<string> | undefined

  fastify.get('/demo', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type('text/html; charset=utf-8').send(DEMO_HTML)
  })

  fastify.get('/demo/app.js', { schema: { hide: true } }, async (request, reply) => {
    bundle ??= buildDemoBundle()
    try {
      return reply.type('text/javascript; charset=utf-8').send(await bundle)
    } catch (err) {
      bundle = undefined
      request.log.error({ err }, 'demo bundle failed (esbuild is a development dependency)')
      throw appError('unavailable', 'the demo bundle could not be built')
    }
  })

  if (!c.usingDevSecret || c.JWT_SECRET !== DEV_JWT_SECRET) return
  const sign = createSigner({ key: c.JWT_SECRET, algorithm: 'HS256' })
  fastify.post('/demo/token', { schema: { hide: true, body: TokenBody } }, async (request) => {
    const { name } = request.body
    return {
      token: sign({
        sub: name,
        name,
        exp: Math.floor(Date.now() / 1000) + TOKEN_TTL_S,
        ...(c.JWT_ISSUER !== undefined && { iss: c.JWT_ISSUER }),
        ...(c.JWT_AUDIENCE !== undefined && { aud: c.JWT_AUDIENCE })
      })
    }
  })
}

export default demoRoutes
