/**
 * The raw protocol with a Socket.IO client nobody here wrote: Debian's python3-socketio 5.7
 * (installed by `.ci/run`), over websocket and long-polling, against a real server process with
 * the redis-streams adapter (connection state recovery on), one transport per test file
 * (python-websocket, python-polling): handshake refusal codes, a room
 * conversation with a JS client, an idempotent repeat, catch-up with `since`, history — and the
 * second argument (the recovery offset) every broadcast carries, which docs/other-clients.md documents.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { until } from '../helpers/net.js'
import { token, TEST_SECRET } from '../helpers/tokens.js'
import { recordingClient, unlimited } from '../client/helpers.js'

const PYTHON = '/usr/bin/python3'
const DRIVER = fileURLToPath(new URL('./driver.py', import.meta.url))

interface Driver { cmd: (c: Record<string, unknown>) => Promise<any> }

function driver (t: Test): Driver {
  const proc = spawn(PYTHON, [DRIVER], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { proc.stdin.end(); proc.kill() })
  const lines = createInterface({ input: proc.stdout })
  const waiting: Array<(line: string) => void> = []
  lines.on('line', (line) => waiting.shift()?.(line))
  return {
    cmd: async (c) => await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`python driver: no answer to ${JSON.stringify(c)}`)), 20_000)
      waiting.push((line) => { clearTimeout(timer); resolve(JSON.parse(line)) })
      proc.stdin.write(JSON.stringify(c) + '\n')
    })
  }
}

export async function pythonCase (transport: 'websocket' | 'polling'): Promise<void> {
  if (!existsSync(PYTHON)) {
    t.plan(0, `no ${PYTHON}: .ci/run installs python3-socketio from Debian's packages`)
  } else {
    const redis = await startRedis()
    t.teardown(redis.close)
    const server = await spawnServer(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('interop'), ADAPTER: 'redis-streams', LOG_LEVEL: 'warn', ...unlimited })

    t.test(`python-socketio over ${transport}`, async (t) => {
      const py = driver(t)
      // python-socketio returns from a refused connect only after its wait_timeout
      const connect = async (tok: string | undefined, namespace = '/', wait = 10): Promise<any> =>
        await py.cmd({ cmd: 'connect', url: server.url, token: tok, transports: [transport], namespace, wait })

      // handshake refusals (SPEC §4)
      const refusals: Array<[string | undefined, string, string]> = [
        [token({ sub: 'py' }, { secret: TEST_SECRET + 'x' }), '/', 'unauthorized'],
        [undefined, '/', 'unauthorized'],
        [token({ sub: 'py', exp: Math.floor(Date.now() / 1000) - 5 }), '/', 'token_expired'],
        [token({ sub: 'py' }), '/admin', 'forbidden']
      ]
      for (const [tok, ns, code] of refusals) {
        const r = await connect(tok, ns, 3)
        t.equal(r.ok, false, `refused: ${code}`)
        // python-socketio hands over the packet as sent: message is the code, data { code, message }
        t.match(r.connect_error, { message: code, data: { code, message: String } }, `connect_error carries ${code}`)
      }

      const room = `interop-${transport}`
      t.match(await connect(token({ sub: 'py', name: 'Python' })), { ok: true, transport })
      t.match((await py.cmd({ cmd: 'call', event: 'room:join', data: { roomId: room } })).ack, { ok: true, roomId: room })

      const js = recordingClient(t, { url: server.url, transports: ['websocket'], token: token({ sub: 'js' }) })
      await js.client.join(room)

      const sent = (await py.cmd({ cmd: 'call', event: 'message:send', data: { roomId: room, text: 'from python', clientMsgId: 'py-1' } })).ack
      t.match(sent, { ok: true, message: { roomId: room, userId: 'py', name: 'Python', text: 'from python', clientMsgId: 'py-1' } })
      const again = (await py.cmd({ cmd: 'call', event: 'message:send', data: { roomId: room, text: 'from python', clientMsgId: 'py-1' } })).ack
      t.equal(again.message.id, sent.message.id, 'an idempotent repeat answers the first message')
      await until(() => js.of(room).length === 1, 10_000)

      const reply = await js.client.send(room, 'from js')
      let got: Array<[string, unknown[]]> = []
      await until(async () => {
        got = (await py.cmd({ cmd: 'events' })).events.filter((e: [string, unknown[]]) => e[0] === 'message:new')
        return got.length === 2
      }, 10_000)
      t.same(got.map(e => (e[1][0] as { text: string }).text), ['from python', 'from js'], 'python hears the room, its own message included, once')
      for (const [, args] of got) {
        t.equal(args.length, 2, 'a broadcast carries two arguments: the payload and the recovery offset')
        t.type(args[1], 'string')
      }
      const lastSeen = (got[1][1][0] as { id: string }).id
      t.equal(lastSeen, reply.id)

      // catch-up: away while the JS client talks, back with since
      await py.cmd({ cmd: 'disconnect' })
      for (const text of ['one', 'two', 'three']) await js.client.send(room, text)
      t.match(await connect(token({ sub: 'py' })), { ok: true })
      const back = (await py.cmd({ cmd: 'call', event: 'room:join', data: { roomId: room, since: lastSeen } })).ack
      t.match(back, { ok: true, recovered: true, hasMore: false })
      t.same(back.missed.map((m: { text: string }) => m.text), ['one', 'two', 'three'])
      const history = (await py.cmd({ cmd: 'call', event: 'history:fetch', data: { roomId: room, limit: 10 } })).ack
      t.same(history.messages.map((m: { text: string }) => m.text), ['from python', 'from js', 'one', 'two', 'three'])
      const bad = (await py.cmd({ cmd: 'call', event: 'message:send', data: { roomId: room, text: 42 } })).ack
      t.match(bad, { ok: false, error: { code: 'invalid_payload' } }, 'errors come back in the ack')
      await py.cmd({ cmd: 'disconnect' })
    })
  }
}
