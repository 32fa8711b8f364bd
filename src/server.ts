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
  process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
})
