/**
 * `switchboard/client` keeps a Socket.IO Manager of its own: the application's own
 * socket.io-client sockets to the same server (another namespace, e.g. `/admin`) connect beside
 * it, as with plain socket.io-client (a shared Manager with autoConnect off left them waiting).
 */
import t from 'tap'
import { io } from 'socket.io-client'
import { startApp } from '../helpers/app.js'
import { until } from '../helpers/net.js'
import { token } from '../helpers/tokens.js'
import { recordingClient } from './helpers.js'

t.test('the application\'s own sockets connect beside the client', async (t) => {
  const { url } = await startApp(t)
  const r = recordingClient(t, { url, transports: ['websocket'] })
  await until(() => r.client.connected, 10_000)
  const admin = io(`${url}/admin`, { transports: ['websocket'], auth: { token: token({ sub: 'ops', role: 'admin' }) }, reconnection: false })
  t.teardown(() => { admin.close() })
  await until(() => admin.connected, 10_000)
  t.ok(admin.connected, 'the /admin socket connected')
  t.not(admin.io, r.client.socket.io, 'each has its own Manager')
  const stats = await admin.timeout(5000).emitWithAck('stats:get', {})
  t.equal(stats.ok, true, '/admin answers')
  t.ok(r.client.connected, 'the client is still connected')
})
