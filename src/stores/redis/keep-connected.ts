/**
 * Keeps an ioredis connection connected until its owner closes it.
 *
 * ioredis (6.0) gives a connection up for good — status `end`, no more reconnects, every
 * command `Connection is closed.` — when a connect attempt fails inside its connector instead of
 * on the socket. With Sentinel that happens in a failover: the failover detector of the previous
 * connection hears `+switch-master` while the next attempt is still asking the sentinels for the
 * master, calls the connector's `disconnect()`, and the pending attempt rejects. The instance
 * then never reaches the new primary (seen in test/scale/sentinel-failover.scale.ts: the relay's
 * subscriber, and the command connection, ended 1–2 s after the kill; about one run in three on
 * a loaded machine). A socket-level failure goes through `close` → `reconnecting` as usual; only
 * an `end` straight after `connecting` is this, and the connection is connected again.
 */
import type { Redis } from 'ioredis'

/** ms before a connection that ended by itself is connected again */
export const RECONNECT_AFTER_MS = 100

/**
 * `closed`: whether the owner has begun closing (then an `end` is the owner's and stays).
 * A connection ended by the owner's own `disconnect()` while connecting is left alone too.
 */
export function keepConnected (c: Redis, closed: () => boolean): void {
  let last = ''
  for (const s of ['connecting', 'connect', 'ready', 'close', 'reconnecting'] as const) c.on(s, () => { last = s })
  c.on('end', () => {
    const afterConnecting = last === 'connecting'
    last = 'end'
    // ioredis' own flag: set by disconnect() without reconnect, still set when a connect it aborted ends
    if (!afterConnecting || closed() || (c as unknown as { manuallyClosing: boolean }).manuallyClosing) return
    setTimeout(() => {
      if (!closed() && c.status === 'end') c.connect().catch(() => {})
    }, RECONNECT_AFTER_MS).unref()
  })
}
