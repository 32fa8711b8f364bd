/**
 * A tiny TCP load balancer for client tests (node:net): one URL in front of several server
 * processes, like the one a real client is given. Each new connection goes to the first backend
 * whose `/health/ready` answered 200 at the last check (checked every 200 ms, like a balancer's
 * health probe), so a draining instance stops getting new connections once its readiness is 503;
 * with `probe: false` it keeps sending them to the first backend that accepts TCP (a balancer
 * without health checks), so clients meet the draining instance's refusals.
 * Tests can also take the network away (`offline`) and drop the server → client direction
 * (`blackhole`), to lose an ack on the way.
 */
import { createServer, connect, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface Balancer {
  url: string
  port: number
  /** drops every open connection and refuses new ones until `online()` */
  offline: () => void
  online: () => void
  /** while on, bytes from the servers are swallowed (the client hears nothing) */
  blackhole: (on: boolean) => void
  /** destroys every open connection (a network blip) */
  cut: () => void
  close: () => Promise<void>
}

export async function startBalancer (t: Test, backends: Array<{ port: number, url: string }>, opts: { probe?: boolean } = {}): Promise<Balancer> {
  const ready = new Map<number, boolean>(backends.map(b => [b.port, true]))
  const pairs = new Set<[Socket, Socket]>()
  let isOffline = false
  let hole = false

  const probe = setInterval(() => {
    for (const b of backends) {
      fetch(`${b.url}/health/ready`, { signal: AbortSignal.timeout(500) })
        .then(r => { ready.set(b.port, r.status === 200); return r.body?.cancel() })
        .catch(() => ready.set(b.port, false))
    }
  }, 200)

  const server = createServer((client) => {
    if (isOffline) { client.destroy(); return }
    client.pause()
    // ready backends first; with `probe: false` only a refused connection moves on to the next
    const order = opts.probe === false ? backends : [...backends.filter(b => ready.get(b.port) === true), ...backends.filter(b => ready.get(b.port) !== true)]
    const attempt = (i: number): void => {
      if (i >= order.length) { client.destroy(); return }
      const upstream = connect(order[i].port, '127.0.0.1')
      let up = false
      upstream.once('error', () => { if (!up) attempt(i + 1) })
      upstream.once('connect', () => {
        up = true
        const pair: [Socket, Socket] = [client, upstream]
        pairs.add(pair)
        const end = (): void => { pairs.delete(pair); client.destroy(); upstream.destroy() }
        client.on('error', end).on('close', end)
        upstream.on('error', end).on('close', end)
        client.on('data', (d) => upstream.write(d))
        upstream.on('data', (d) => { if (!hole) client.write(d) })
        client.resume()
      })
    }
    client.on('error', () => client.destroy())
    attempt(0)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0

  const cut = (): void => {
    for (const [a, b] of [...pairs]) { a.destroy(); b.destroy() }
    pairs.clear()
  }
  const close = async (): Promise<void> => {
    clearInterval(probe)
    cut()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }
  t.teardown(close)
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    offline: () => { isOffline = true; cut() },
    online: () => { isOffline = false },
    blackhole: (on) => { hole = on },
    cut,
    close
  }
}
