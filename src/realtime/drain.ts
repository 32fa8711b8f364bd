/**
 * Graceful drain (SPEC §8): tell every local socket `server:shutdown`, then close their
 * transports in batches spread over half the grace period, so the other instances are not hit
 * by every reconnect at once. Closing the transport (not `disconnect()`) makes socket.io-client
 * reconnect by itself, and lets connection state recovery restore the session elsewhere.
 */
import type { AppServer, AppSocket } from './types.js'

const BATCH_INTERVAL_MS = 100

export interface DrainResult { sockets: number, batches: number, tookMs: number }

export async function drainSockets (io: AppServer, graceMs: number): Promise<DrainResult> {
  const started = Date.now()
  const sockets: AppSocket[] = []
  for (const nsp of (io as unknown as { _nsps: Map<string, { sockets: Map<string, AppSocket> }> })._nsps.values()) {
    for (const s of nsp.sockets.values()) sockets.push(s)
  }
  if (sockets.length === 0) return { sockets: 0, batches: 0, tookMs: 0 }

  const spreadMs = Math.max(0, Math.floor(graceMs * 0.5))
  const batches = Math.max(1, Math.min(sockets.length, Math.floor(spreadMs / BATCH_INTERVAL_MS)))
  const size = Math.ceil(sockets.length / batches)

  for (let b = 0; b < batches; b++) {
    const delay = b * BATCH_INTERVAL_MS
    for (let i = b * size; i < Math.min(sockets.length, (b + 1) * size); i++) {
      sockets[i].emit('server:shutdown', { reconnectInMs: delay })
    }
  }
  for (let b = 0; b < batches; b++) {
    if (b > 0) await new Promise(resolve => setTimeout(resolve, BATCH_INTERVAL_MS))
    for (let i = b * size; i < Math.min(sockets.length, (b + 1) * size); i++) {
      const s = sockets[i]
      if (s.connected) s.conn.close()
    }
  }
  return { sockets: sockets.length, batches, tookMs: Date.now() - started }
}
