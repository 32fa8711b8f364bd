/**
 * The chaos suite's ledger (test/chaos/lib/ledger.ts) must see every kind of fault it counts:
 * fed a history and deliveries with one fault of each kind, it counts each once — so a clean
 * chaos run means the faults were absent, not unseen.
 */
import t from 'tap'
import { Ledger, type Msg } from '../chaos/lib/ledger.js'

const msg = (id: string, cmid: string, roomId = 'r'): Msg => ({ id, roomId, clientMsgId: cmid, text: cmid, at: 0 })

t.test('a clean run counts nothing', async (t) => {
  const l = new Ledger()
  const c = l.addClient(['r'], () => true)
  l.start(c, 'r', 'a'); l.ok('a', '1-0')
  l.start(c, 'r', 'b'); l.ok('b', '2-0')
  l.deliver(c, msg('1-0', 'a')); l.deliver(c, msg('2-0', 'b'))
  const a = l.analyse(new Map([['r', [msg('1-0', 'a'), msg('2-0', 'b')]]]))
  t.match(a, { sent: 2, acked: 2, ackedMissingHistory: 0, historyDuplicates: 0, halfWritten: 0, missingAtClients: 0, silentGaps: 0, clientDuplicates: 0, clientOutOfOrder: 0, clientsGaveUp: 0, foreignDeliveries: 0 })
})

t.test('each fault is counted once', async (t) => {
  const l = new Ledger()
  let up = true
  const c = l.addClient(['r'], () => true)
  const gone = l.addClient(['r'], () => up)
  // a: acked, lost from history, delivered to c, not to `gone`, nobody told → one silent gap
  l.start(c, 'r', 'a'); l.ok('a', '1-0')
  // b: acked as 2-0 but history holds it as 5-0 too (a second message for one send)
  l.start(c, 'r', 'b'); l.ok('b', '2-0')
  // u: a probe's single send answered unavailable, yet in history → half-written
  l.start(-1, 'r', 'u'); l.fail('u', 'unavailable')
  // v: a load client's send given up after unavailable, in history (an earlier attempt may have written it)
  l.start(c, 'r', 'v'); l.fail('v', 'unavailable')
  // x: timed out, in history → unacked but not half-written
  l.start(c, 'r', 'x'); l.fail('x', 'timeout')
  l.start(-1, 'r', 'p'); l.fail('p', 'unavailable') // a probe's refusal: not a give-up
  const history = [msg('2-0', 'b'), msg('3-0', 'u'), msg('4-0', 'x'), msg('5-0', 'b'), msg('6-0', 'v')]
  l.deliver(c, msg('1-0', 'a'))
  l.deliver(c, msg('3-0', 'u'))
  l.deliver(c, msg('2-0', 'b')) // out of order after 3-0
  l.deliver(c, msg('4-0', 'x'))
  l.deliver(c, msg('4-0', 'x')) // duplicate
  l.deliver(c, msg('9-0', 'nobody')) // never sent
  l.deliver(gone, msg('2-0', 'b'))
  up = false
  const a = l.analyse(new Map([['r', history]]))
  t.equal(a.ackedMissingHistory, 1, 'a is lost')
  t.equal(a.historyDuplicates, 1, 'b twice in history')
  t.equal(a.halfWritten, 1, 'u written after unavailable')
  t.equal(a.unackedInHistory, 2, 'x after a timeout, v after retries')
  t.same(a.gaveUp, { unavailable: 1, timeout: 1 }, 'the probe is not a give-up')
  t.equal(a.clientOutOfOrder, 2, '2-0 after 3-0, and the duplicate 4-0')
  t.equal(a.clientDuplicates, 1)
  t.equal(a.foreignDeliveries, 1)
  t.equal(a.clientsGaveUp, 1, 'the client that is not connected')
  t.equal(a.silentGaps, 1, 'gone never got a and was never told')
  // gone misses 3-0, 4-0, 5-0, 6-0 of history; c misses 5-0, 6-0
  t.equal(a.missingAtClients, 6)
})

t.test('live messages out of id order on a socket are counted', async (t) => {
  const l = new Ledger()
  const c = l.addClient(['r'], () => true)
  l.raw(c, { id: '2-0', roomId: 'r' })
  l.raw(c, { id: '1-0', roomId: 'r' })
  l.raw(c, { id: '3-0', roomId: 'r' })
  l.raw(c, { id: '1-0', roomId: 'q' })
  t.equal(l.analyse(new Map()).rawOutOfOrder, 1)
})

t.test('a recovered: false is honest only when an acked message after since is gone', async (t) => {
  const l = new Ledger()
  const c = l.addClient(['r'], () => true)
  l.start(c, 'r', 'a'); l.ok('a', '1-0')
  l.start(c, 'r', 'b'); l.ok('b', '2-0')
  l.gap(c, 'r', '1-0') // b (2-0) is lost: honest, and it covers b for this client
  l.gap(c, 'r', '2-0') // nothing after 2-0 was lost: conservative
  l.deliver(c, msg('1-0', 'a'))
  const a = l.analyse(new Map([['r', [msg('1-0', 'a')]]]))
  t.equal(a.recoveredFalse, 2)
  t.equal(a.recoveredFalseHonest, 1)
  t.equal(a.silentGaps, 0, 'the client was told')
})
