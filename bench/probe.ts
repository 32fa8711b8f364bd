/**
 * Preloaded (`--import`) into every server the bench starts, Switchboard and baseline alike,
 * so memory is measured the same way in both without touching server code:
 * - on a `{ type: 'mem' }` IPC request it runs a full GC (the server is started with
 *   --expose-gc) and answers with process.memoryUsage();
 * - when the runner disappears (IPC channel closed, even on SIGKILL) it exits, so no server
 *   outlives the bench.
 * Without an IPC channel it does nothing.
 */

interface MemRequest { type: 'mem', id: number }

if (typeof process.send === 'function') {
  const gc = (globalThis as { gc?: () => void }).gc
  process.on('message', (raw: unknown) => {
    const req = raw as MemRequest
    if (req?.type !== 'mem') return
    if (gc !== undefined) {
      gc()
      gc()
    }
    const m = process.memoryUsage()
    process.send?.({
      type: 'mem',
      id: req.id,
      gc: gc !== undefined,
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers
    })
  })
  process.on('disconnect', () => process.exit(0))
  // the channel must not keep an otherwise finished server alive
  process.channel?.unref()
}

export {}
