/**
 * The message relay across a gap in its feed (src/realtime/relay.ts, SPEC §8 "No gap after a
 * drop"), over a real Socket.IO server and client; the feed is a scripted MessageFeed, so that
 * history can be made unreachable while the subscription is live again (a Redis link cut, the
 * chaos suite's F5). A room that cannot be replayed must get none of the messages held during
 * the gap: its client is sent to catch up with `since` = the last id it saw, and a newer held
 * message would move that past the messages it missed.
 */
import t from 'tap'
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { io as connect } from 'socket.io-client'
import { startRelay, type MessageFeed } from '../../src/realtime/relay.js'
import type { Message } from '../../src/schemas/common.js'
import type { AppNamespace } from '../../src/realtime/types.js'

const msg = (id: string): Message => ({ id, roomId: 'r', userId: 'u', text: id, at: Number(id.split('-')[0]) }) as Message

t.test('a room whose gap cannot be replayed gets nothing held; its client is sent to catch up', async (t) => {
  const http = createServer()
  const io = new Server(http)
  // joined before the client hears `connect` (Socket.IO runs the handler in the same tick)
  io.on('connection', (s) => { s.join('r') as unknown })
  await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await io.close() })

  const messages: Array<(m: Message) => void> = []
  const gaps: Array<(resumed: Promise<void>) => void> = []
  let historyUp = true
  const feed: MessageFeed = {
    delivery: 'relay',
    onMessage: (l) => { messages.push(l) },
    onGap: (l) => { gaps.push(l) },
    range: async () => {
      if (!historyUp) throw new Error('history unreachable')
      return { messages: [], hasMore: false }
    }
  }
  startRelay(feed, io.of('/') as unknown as AppNamespace)

  const port = (http.address() as { port: number }).port
  const client = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false })
  t.teardown(() => { client.close() })
  const got: string[] = []
  client.on('message:new', (m: Message) => got.push(m.id))
  await new Promise<void>(resolve => client.once('connect', () => resolve()))

  const publish = (m: Message): void => { for (const l of messages) l(m) }
  publish(msg('100-0'))
  while (!got.includes('100-0')) await new Promise(resolve => setTimeout(resolve, 10))

  // the subscription drops; 200-0 is published meanwhile (lost to this instance); it comes back
  // while history cannot be read, and 300-0 arrives live
  let resume: () => void = () => {}
  const resumed = new Promise<void>(resolve => { resume = resolve })
  historyUp = false
  for (const l of gaps) l(resumed)
  resume()
  publish(msg('300-0'))

  const closed = await new Promise<string>(resolve => client.once('disconnect', (reason) => resolve(reason)))
  t.equal(closed, 'transport close', 'the client is sent to reconnect and catch up (a reconnect it retries)')
  t.same(got, ['100-0'], 'and never saw 300-0, so its since (100-0) still covers 200-0')
})
