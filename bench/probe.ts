/**
 * Preloaded (`--import`) into every server the bench starts, Switchboard and baseline alike,
 * so both are observed the same way without touching server code:
 * - `{ type: 'mem' }` over IPC: runs a full GC (the server is started with --expose-gc) and
 *   answers with process.memoryUsage();
 * - `{ type: 'loop' }`: answers the event-loop delay percentiles since the previous 'loop'
 *   request and starts a new window (tells server stalls apart from client-side latency);
 * - when the runner disappears (IPC channel closed, even on SIGKILL) it exits, so no server
 *   outlives the bench.
 * Without an IPC channel it does nothing.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'

interface ProbeRequest { type: 'mem' | 'loop', id: number }

if (typeof process.send === 'function') {
  const gc = (globalThis as { gc?: () => void }).gc
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const ms = (ns: number): number => ns / 1e6
  process.on('message', (raw: unknown) => {
    const req = raw as ProbeRequest
    if (req?.type === 'mem') {
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
    } else if (req?.type === 'loop') {
      // the histogram includes the 10 ms sampling interval itself; subtract it
      const answer = {
        type: 'loop',
        id: req.id,
        p50Ms: Math.max(0, ms(loop.percentile(50)) - 10),
        p99Ms: Math.max(0, ms(loop.percentile(99)) - 10),
        maxMs: Math.max(0, ms(loop.max) - 10)
      }
      loop.reset()
      process.send?.(answer)
    }
  })
  process.on('disconnect', () => process.exit(0))
  // the channel must not keep an otherwise finished server alive
  process.channel?.unref()
}

export {}
