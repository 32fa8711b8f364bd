/**
 * A REST request refused with a 5xx code (not `internal`) is one `warn` line whose JSON has one
 * `msg`: the refusal's own message was logged under `msg` too, so the line carried the key twice
 * and a JSON parser kept only one of them (found by the new-user trial: `"msg":"storage is
 * unavailable…","msg":"request refused"`).
 */
import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { until } from '../helpers/net.js'

t.test('an unavailable REST answer is logged with msg once and its reason apart', async (t) => {
  const redis = await startRedis({ own: true })
  t.teardown(redis.close)
  const srv = await spawnServer(t, { REDIS_URL: redis.url, LOG_LEVEL: 'info', RATE_LIMIT_HTTP_MAX: '0' })
  await redis.stop()
  const res = await http(`${srv.url}/v1/rooms/lobby/messages`, { token: token({ sub: 'svc', role: 'service' }), method: 'POST', body: { text: 'x' } })
  t.equal(res.status, 503)
  await until(() => srv.output().includes('request refused'), 5000)
  const line = srv.output().split('\n').find(l => l.includes('request refused')) as string
  t.equal(line.match(/"msg":/g)?.length, 1, `one msg key: ${line}`)
  t.match(JSON.parse(line), { level: 40, code: 'unavailable', msg: 'request refused', reason: /unavailable/ })
})
