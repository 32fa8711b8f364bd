/**
 * Security headers for REST and the API documentation (issue 9 item 5), with @fastify/helmet:
 * `X-Content-Type-Options: nosniff`, `X-Frame-Options`, HSTS, the cross-origin policies; and
 * `Cache-Control: no-store` on API answers (they carry per-principal data). The Swagger UI at
 * /docs gets a CSP of its own (swagger-ui's `staticCSP`, set in plugins/swagger.ts) that allows
 * only its own scripts and styles; other answers are JSON and need none.
 */
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'

/** The CSP of /docs: swagger-ui's static CSP without `upgrade-insecure-requests`, which would break a plain-HTTP deployment. */
export function docsCsp (header: string): string {
  return header.replace(/\s*upgrade-insecure-requests;?/g, '').trim()
}

export default fp(async (fastify) => {
  await fastify.register(helmet, {
    global: true,
    // JSON answers need no CSP; /docs sets its own (plugins/swagger.ts)
    contentSecurityPolicy: false
  })
  fastify.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store')
  })
}, { name: 'security-headers', fastify: '5.x' })
