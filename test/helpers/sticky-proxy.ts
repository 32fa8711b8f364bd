/**
 * A sticky TCP balancer for drain tests, like nginx with `ip_hash` + `max_fails`: every client
 * connection goes to the current upstream while it accepts connections; a refused connection,
 * or an HTTP 503 answer, marks that upstream failed for `failTimeoutMs` and later connections go
 * to the next one. It never retries a request itself: what the client sees is what the upstream
 * answered, so the test sees whether the client retries.
 */
import { createServer, connect, type Socket } from 'node:net'

export interface StickyProxy {
  port: number
  url: string
  /** index of the upstream new connections go to */
  current: () => number
  /** connections passed to each upstream, and the 503 answers and refusals seen from each */
  stats: Array<{ connections: number, status503: number, refused: number }>
  close: () => Promise<void>
}

export async function stickyProxy (upstreams: number[], opts: { failTimeoutMs?: number } = {}): Promise<StickyProxy> {
  const failTimeoutMs = opts.failTimeoutMs ?? 10_000
  const failedUntil = upstreams.map(() => 0)
  const stats = upstreams.map(() => ({ connections: 0, status503: 0, refused: 0 }))
  let current = 0
  const sockets = new Set<Socket>()

  const pick = (): number => {
    const now = Date.now()
    for (let k = 0; k < upstreams.length; k++) {
      const i = (current + k) % upstreams.length
      if (failedUntil[i] <= now) { current = i; return i }
    }
    return current
  }
  const fail = (i: number): void => {
    failedUntil[i] = Date.now() + failTimeoutMs
    if (current === i) current = (i + 1) % upstreams.length
  }

  const server = createServer((client) => {
    sockets.add(client)
    client.pause()
    client.on('error', () => {})
    client.on('close', () => sockets.delete(client))
    let tries = 0
    const attempt = (): void => {
      const i = pick()
      const up = connect(upstreams[i], '127.0.0.1')
      sockets.add(up)
      let connected = false
      up.on('connect', () => {
        connected = true
        stats[i].connections++
        up.once('data', (chunk: Buffer) => {
          if (chunk.subarray(0, 12).toString('latin1') === 'HTTP/1.1 503') { stats[i].status503++; fail(i) }
        })
        client.pipe(up)
        up.pipe(client)
        client.resume()
      })
      up.on('error', () => {
        if (!connected) {
          stats[i].refused++
          fail(i)
          if (++tries < upstreams.length * 2) return attempt()
        }
        client.destroy()
      })
      up.on('close', () => { sockets.delete(up); if (connected) client.end() })
      client.on('close', () => up.destroy())
    }
    attempt()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    current: () => current,
    stats,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
