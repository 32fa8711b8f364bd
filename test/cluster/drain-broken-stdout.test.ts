/**
 * A drain ends within SHUTDOWN_GRACE_MS also when the process's stdout is a pipe whose reader
 * is gone (`… | head`, a crashed log shipper): pino's default asynchronous destination flushed
 * its buffer synchronously at exit and retried the EPIPE every 100 ms forever (sonic-boom 4.2),
 * so the process never exited and further signals did nothing (found by a new-user trial).
 */
import t from 'tap'
import { spawnServer } from '../helpers/proc.js'
import { sleep } from '../helpers/net.js'

t.test('SIGTERM with a broken stdout pipe: exit 0 within the grace', async (t) => {
  const s = await spawnServer(t, { SHUTDOWN_GRACE_MS: '2000', LOG_LEVEL: 'info' })
  // the reader goes away: every later write to stdout is EPIPE
  s.proc.stdout?.destroy()
  await sleep(100)
  const t0 = Date.now()
  s.proc.kill('SIGTERM')
  const code = await Promise.race([s.exited, sleep(8000).then(() => 'still running')])
  t.equal(code, 0, `exit code (after ${Date.now() - t0} ms)`)
  t.ok(Date.now() - t0 < 2000 + 2000, 'within SHUTDOWN_GRACE_MS (+ 2 s of start-up slack)')
})
