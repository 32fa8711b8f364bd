/**
 * `/demo` routes (SPEC §6): the page and its bundle outside production only, and the
 * development token only while the public development secret is in use.
 */
import t from 'tap'
import { startApp, http } from '../helpers/app.js'

t.test('production: no /demo', async (t) => {
  const { url } = await startApp(t, { NODE_ENV: 'production' })
  t.equal((await http(`${url}/demo`)).status, 404)
  t.equal((await http(`${url}/demo/app.js`)).status, 404)
  t.equal((await http(`${url}/demo/token`, { body: { name: 'x' } })).status, 404)
})

t.test('development with a secret of its own: the page, no token endpoint', async (t) => {
  const { url } = await startApp(t)
  const page = await http(`${url}/demo`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.match(page.body, /<script src="\/demo\/app.js">/)
  t.equal((await http(`${url}/demo/token`, { body: { name: 'x' } })).status, 404)
})

t.test('development secret: tokens for a name, the bundle', async (t) => {
  const { url } = await startApp(t, { JWT_SECRET: undefined })
  const res = await http(`${url}/demo/token`, { body: { name: 'zoe' } })
  t.equal(res.status, 200)
  const me = await http(`${url}/v1/presence/zoe`, { token: res.body.token })
  t.equal(me.status, 200, 'the token is accepted')
  t.equal((await http(`${url}/demo/token`, { body: { name: 'no spaces' } })).status, 400)
  t.equal((await http(`${url}/demo/token`, { body: { name: 'x', role: 'admin' } })).status, 400, 'no role can be asked for')
  const js = await http(`${url}/demo/app.js`)
  t.equal(js.status, 200)
  t.match(js.headers.get('content-type'), /javascript/)
  t.ok(String(js.body).length > 20_000, 'the bundle holds the client and socket.io-client')
})
