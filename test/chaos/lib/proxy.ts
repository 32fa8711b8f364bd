/**
 * A small `node:net` TCP proxy for faults between two parties: in front of several server
 * instances it is the clients' load balancer (round-robin over the backends whose
 * `/health/ready` answered 200 at the last probe, every 200 ms); in front of Redis it is the
 * network that can `cut` every connection, `stall` them (bytes held, nothing forwarded, as a
 * hung link or a frozen peer looks), or `refuse` new ones.
 */
import { createServer, connect, type Socket } from 'node:net'

export interface Backend { port: number, url?: string }

export interface Proxy {
  url: string
  port: number
  /** destroys every open connection */
  cut: () => void
  /** while on, nothing is forwarded either way (bytes are held by the proxy and
   *  delivered when the stall ends, as after a hung link) */
  stall: (on: boolean) => void
  /** while on, new connections are closed at once */
  refuse: (on: boolean) => void
  /** open connection pairs now */
  connections: () => number
  close: () => Promise<void>
}

export async function startProxy (backends: Backend[], opts: { probe?: boolean } = {}): Promise<Proxy> {
  const ready = new Map<number, boolean>(backends.map(b => [b.port, true]))
  const pairs = new Set<[Socket, Socket]>()
  let refusing = false
  let stalled = false
  let rr = 0
  const probe = opts.probe === true
    ? setInterval(() => {
      for (const b of backends) {
        if (b.url === undefined) continue
        fetch(`${b.url}/health/ready`, { signal: AbortSignal.timeout(500) })
          .then(async r => { ready.set(b.port, r.status === 200); await r.body?.cancel() })
          .catch(() => ready.set(b.port, false))
      }
    }, 200)
    : undefined

  /** held chunks per destination while stalled */
  const held = new Map<Socket, Buffer[]>()
  const forward = (from: Socket, to: Socket): void => {
    from.on('data', (d: Buffer) => {
      if (stalled) {
        const q = held.get(to) ?? []
        q.push(d)
        held.set(to, q)
      } else if (!to.destroyed) to.write(d)
    })
  }

  const server = createServer((client) => {
    if (refusing) { client.destroy(); return }
    client.pause()
    client.on('error', () => client.destroy())
    const up = backends.filter(b => ready.get(b.port) === true)
    const start = rr++
    const order = [...up, ...backends.filter(b => ready.get(b.port) !== true)]
    const rotated = order.length === 0 ? [] : [...order.slice(start % Math.max(1, up.length)), ...order.slice(0, start % Math.max(1, up.length))]
    const attempt = (i: number): void => {
      if (i >= rotated.length || client.destroyed) { client.destroy(); return }
      const upstream = connect(rotated[i].port, '127.0.0.1')
      let linked = false
      upstream.once('error', () => { if (!linked) attempt(i + 1) })
      upstream.once('connect', () => {
        linked = true
        const pair: [Socket, Socket] = [client, upstream]
        pairs.add(pair)
        const end = (): void => { pairs.delete(pair); client.destroy(); upstream.destroy() }
        client.on('error', end).on('close', end)
        upstream.on('error', end).on('close', end)
        forward(client, upstream)
        forward(upstream, client)
        client.resume()
      })
    }
    attempt(0)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  const cut = (): void => {
    for (const [a, b] of [...pairs]) { a.destroy(); b.destroy() }
    pairs.clear()
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cut,
    stall: (on) => {
      stalled = on
      if (on) return
      for (const [to, q] of held) if (!to.destroyed) for (const d of q) to.write(d)
      held.clear()
    },
    refuse: (on) => { refusing = on },
    connections: () => pairs.size,
    close: async () => {
      if (probe !== undefined) clearInterval(probe)
      cut()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
