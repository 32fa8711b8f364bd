/**
 * Process entry: parse the configuration (exit 1 with one line if it is bad), build the server,
 * listen, and drain gracefully on SIGTERM / SIGINT within SHUTDOWN_GRACE_MS.
 */
import closeWithGrace from 'close-with-grace'
import { parseConfig, ConfigError } from './config.js'
import { buildServer } from './build.js'

async function main (): Promise<void> {
  let config
  try {
    config = parseConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n')
      process.exit(1)
    }
    throw err
  }

  const server = await buildServer(config)

  // A bug in a dependency must not take every connection of the instance down with it.
  process.on('unhandledRejection', (err) => {
    server.log.error({ err }, 'unhandled rejection')
  })

  closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, logger: false }, async ({ signal, err }) => {
    if (err !== undefined) server.log.error({ err }, 'fatal error, shutting down')
    else server.log.info({ signal }, 'shutting down')
    await server.close()
    server.log.info('shut down cleanly')
  })

  await server.listen({ port: config.PORT, host: config.HOST })
}

main().catch((err: unknown) => {
  const e = err as NodeJS.ErrnoException & { address?: string, port?: number }
  // the start-up failures an operator meets first get one line, not a stack trace
  if (e?.code === 'EADDRINUSE') process.stderr.write(`fatal: ${e.address ?? ''}:${e.port ?? ''} is already in use; stop what listens there or set PORT (SPEC §2)\n`)
  else if (e?.code === 'EACCES') process.stderr.write(`fatal: not allowed to listen on ${e.address ?? ''}:${e.port ?? ''}; use a PORT above 1023 or run with the right to bind it\n`)
  else process.stderr.write(`fatal: ${e?.stack ?? String(err)}\n`)
  process.exit(1)
})
