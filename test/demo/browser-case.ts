/**
 * The `/demo` chat in a real Chromium (Debian's package, driven by playwright-core; `.ci/run`
 * installs it): two pages on two instances that share one Redis — messages both ways, presence
 * dots, typing, read receipts, history paging — then one page loses its network (its instance is
 * reached through a TCP balancer the test takes offline), messages are sent meanwhile, and when
 * it is back it shows them all, in order, each once; away again while the room's history is
 * reset, it comes back showing the gap. One transport per test file
 * (browser-websocket, browser-polling), so each stays short. Screenshots go to
 * `.artifacts/demo/` (git-ignored).
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startRedis, uniquePrefix } from '../helpers/redis.js'
import { spawnServer } from '../helpers/proc.js'
import { startBalancer } from '../helpers/balancer.js'
import { http } from '../helpers/app.js'
import { token } from '../helpers/tokens.js'
import { DEV_JWT_SECRET } from '../../src/config.js'
import { unlimited } from '../client/helpers.js'
import { Redis } from 'ioredis'
import { createKeys } from '../../src/stores/keys.js'

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = fileURLToPath(new URL('../../.artifacts/demo/', import.meta.url))
const WAIT = { timeout: 30_000 }

export async function browserCase (transport: 'websocket' | 'polling'): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    t.plan(0, `no ${CHROMIUM}: .ci/run installs Debian's chromium package`)
  } else {
    const redis = await startRedis()
    t.teardown(redis.close)
    await mkdir(SHOTS, { recursive: true })
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.teardown(async () => await browser.close())

    // JWT_SECRET unset: the development secret, so /demo/token signs users in
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('demo'), JWT_SECRET: undefined, LOG_LEVEL: 'warn', ...unlimited }
    const [a, b] = await Promise.all([spawnServer(t, env), spawnServer(t, env)])

    t.test(`two pages, two instances (${transport})`, async (t) => {
      const [alice, bob] = transport === 'websocket' ? ['alice', 'bob'] : ['carol', 'dave']
      const lobby = `lobby-${transport}`
      const archive = `archive-${transport}`
      const net = await startBalancer(t, [a]) // the first page's network
      const svc = token({ sub: 'svc', role: 'service' }, { secret: DEV_JWT_SECRET })
      for (let i = 0; i < 25; i++) await http(`${b.url}/v1/rooms/${archive}/messages`, { token: svc, body: { text: `old ${i}` } })

      const open = async (base: string, name: string): Promise<Page> => {
        const page = await (await browser.newContext()).newPage()
        page.on('pageerror', (err) => t.fail(`${name}'s page: ${err.message}`))
        await page.goto(`${base}/demo?transport=${transport}`)
        await page.fill('#name', name)
        await page.click('#signin button')
        await page.waitForSelector('#status[data-kind=connected]', WAIT)
        await page.fill('#room', lobby)
        await page.click('#join button')
        await page.waitForSelector(`.tab.on[data-room=${lobby}]`, WAIT)
        return page
      }
      const say = async (page: Page, text: string): Promise<void> => {
        await page.fill('#text', text)
        await page.press('#text', 'Enter')
      }
      const texts = async (page: Page): Promise<string[]> => await page.$$eval('#messages li', els => els.map(e => (e.childNodes[1]?.textContent ?? '').trim()))
      const ids = async (page: Page): Promise<string[]> => await page.$$eval('#messages li', els => els.map(e => e.getAttribute('data-id') ?? ''))

      const pa = await open(net.url, alice)
      const pb = await open(b.url, bob)

      await say(pa, `hello from ${alice}`)
      await pb.waitForSelector(`#messages li:has-text("hello from ${alice}")`, WAIT)
      await say(pb, `hi ${alice}`)
      await pa.waitForSelector(`#messages li:has-text("hi ${alice}")`, WAIT)
      await pa.waitForSelector(`.member[data-user=${bob}][data-status=online]`, WAIT)
      await pb.waitForSelector(`.member[data-user=${alice}][data-status=online]`, WAIT)
      // `typing` is volatile (SPEC §5): Socket.IO drops it when the receiver's transport is busy
      // writing, e.g. with a receipt or presence frame. The demo sends it again while the user
      // keeps typing (at most once per 2 s), so keep typing until the other page shows it.
      await pb.fill('#text', 'typing…')
      let shown = false
      for (let i = 0; i < 10 && !shown; i++) {
        await pb.type('#text', '!')
        shown = await pa.waitForSelector(`#typing:has-text("${bob} typing")`, { timeout: 2_500 }).then(() => true, () => false)
      }
      t.ok(shown, `${alice} sees ${bob} typing`)
      await pb.fill('#text', '')
      await pb.waitForSelector(`#messages li:has-text("hi ${alice}") .seen:has-text("${alice}")`, WAIT)
      t.pass('messages both ways, presence dots, typing, read receipts')
      await pa.screenshot({ path: `${SHOTS}${transport}-first-page.png` })
      await pb.screenshot({ path: `${SHOTS}${transport}-second-page.png` })

      // what the client hands the page (the page itself keeps each id once, so its list alone
      // would not show a duplicate delivery)
      await pa.evaluate(() => {
        const w = window as unknown as { delivered: string[], demo: { client: { on: (e: 'message', l: (m: { id: string }) => void) => void } } }
        w.delivered = []
        w.demo.client.on('message', (m) => w.delivered.push(m.id))
      })

      // the first page's network goes; the other keeps talking
      net.offline()
      await pa.waitForSelector('#status[data-kind=reconnecting]', WAIT)
      for (let i = 1; i <= 5; i++) {
        await say(pb, `while you were away ${i}`)
        await pb.waitForSelector(`#messages li:has-text("while you were away ${i}")`, WAIT)
      }
      await pa.screenshot({ path: `${SHOTS}${transport}-alice-offline.png` })
      net.online()
      await pa.waitForSelector('#status[data-kind=caught-up]', WAIT)
      await pa.waitForSelector('#messages li:has-text("while you were away 5")', WAIT)
      t.match(await pa.textContent('#status'), new RegExp(`caught up 5 messages in #${lobby}`))
      const seen = await ids(pa)
      t.equal(new Set(seen).size, seen.length, 'no duplicate')
      const delivered = await pa.evaluate(() => (window as unknown as { delivered: string[] }).delivered)
      t.same(delivered, seen.slice(2), 'the client delivered each missed message once, in id order')
      t.same(await texts(pa), await texts(pb), 'the same messages, in the same order, on both pages')
      t.same(await texts(pa), [`hello from ${alice}`, `hi ${alice}`, ...[1, 2, 3, 4, 5].map(i => `while you were away ${i}`)])
      await pa.screenshot({ path: `${SHOTS}${transport}-alice-back.png` })

      // away again, and the room's history is reset meanwhile: back with a visible gap
      net.offline()
      await pa.waitForSelector('#status[data-kind=reconnecting]', WAIT)
      const admin = new Redis(redis.url)
      await admin.del(createKeys(env.REDIS_KEY_PREFIX).roomHistory(lobby))
      admin.disconnect()
      await say(pb, 'after the reset')
      await pb.waitForSelector('#messages li:has-text("after the reset")', WAIT)
      net.online()
      await pa.waitForSelector('#status[data-kind=gap]', WAIT)
      await pa.waitForSelector('#messages li:has-text("after the reset")', WAIT)
      t.match(await pa.textContent('#status'), new RegExp(`gap in #${lobby}: some messages may be missing \\(caught up 1 message in #${lobby}\\)`))
      await pa.screenshot({ path: `${SHOTS}${transport}-alice-gap.png` })

      // history paging
      await pa.fill('#room', archive)
      await pa.click('#join button')
      await pa.waitForSelector('#messages li:has-text("old 24")', WAIT)
      t.equal((await texts(pa)).length, 20, 'the newest 20 first')
      await pa.click('#older')
      await pa.waitForSelector('#messages li:has-text("old 0")', WAIT)
      t.same(await texts(pa), Array.from({ length: 25 }, (_, i) => `old ${i}`), 'older pages on demand')
      await pa.screenshot({ path: `${SHOTS}${transport}-alice-archive.png` })
    })
  }
}
