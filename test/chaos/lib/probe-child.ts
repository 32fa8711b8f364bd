/**
 * The send probe's own process (see probe.ts): `node --import=tsx probe-child.ts <url> <room>
 * <everyMs> <token>`. Alone in its process, its latencies are not those of the load clients' event
 * loop. Prints one JSON line per answer; exits when its stdin closes (the runner went away).
 */
import { randomUUID } from 'node:crypto'
import { io } from 'socket.io-client'

const [url, roomId, every, jwt] = process.argv.slice(2)
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()

const s = io(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, auth: { token: jwt } })
let joined = false
const join = (): void => {
  s.timeout(4000).emit('room:join', { roomId }, (err: Error | null, r: { ok: boolean }) => {
    joined = err === null && r.ok
    if (joined) console.log(JSON.stringify({ joined: true }))
  })
}
s.on('connect', join)
s.on('disconnect', () => { joined = false })
setInterval(() => {
  if (!joined) {
    if (s.connected) join()
    else console.log(JSON.stringify({ t: Date.now(), ms: 0, code: 'disconnected' }))
    return
  }
  const cmid = randomUUID()
  const t = Date.now()
  s.timeout(10_000).emit('message:send', { roomId, text: 'probe', clientMsgId: cmid }, (err: Error | null, r: { ok: boolean, message?: { id: string }, error?: { code: string } }) => {
    const code = err !== null ? 'timeout' : r.ok ? 'ok' : (r.error?.code ?? 'bad_answer')
    console.log(JSON.stringify({ t, ms: Date.now() - t, code, cmid, id: r?.message?.id }))
  })
}, Number(every))
