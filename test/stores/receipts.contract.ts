/**
 * The ReceiptStore contract, run against every implementation (receipts.test.ts): a receipt
 * points into the room's history, only ever moves forward, and stays forward under concurrent
 * writers.
 */
import type { Test } from 'tap'
import type { HistoryStore } from '../../src/stores/history.js'
import type { ReceiptStore } from '../../src/stores/receipts.js'

export interface ReceiptFactory {
  name: string
  /** a fresh receipt store over a fresh history store (keeping `maxLen` per room) */
  create: (t: Test, opts: { maxLen: number }) => Promise<{ receipts: ReceiptStore, history: HistoryStore }>
}

export function receiptContract (t: Test, factory: ReceiptFactory): void {
  const n = factory.name

  t.test(`${n}: receipts move forward only`, async (t) => {
    const { receipts, history } = await factory.create(t, { maxLen: 100 })
    const m = []
    for (let i = 0; i < 4; i++) m.push((await history.append({ roomId: 'r', userId: 'bob', text: `${i}` })).message.id)
    t.same(await receipts.list('r'), {}, 'none yet')
    t.equal(await receipts.mark('r', 'alice', m[1]), 'advanced')
    t.equal(await receipts.mark('r', 'alice', m[1]), 'unchanged', 'the same again')
    t.equal(await receipts.mark('r', 'alice', m[0]), 'unchanged', 'an older one')
    t.same(await receipts.list('r'), { alice: m[1] }, 'never moved back')
    t.equal(await receipts.mark('r', 'alice', m[3]), 'advanced')
    t.equal(await receipts.mark('r', 'bob', m[0]), 'advanced', 'per user')
    t.same(await receipts.list('r'), { alice: m[3], bob: m[0] })
    t.same(await receipts.list('other'), {}, 'per room')
  })

  t.test(`${n}: a receipt must point at a message in that room's history`, async (t) => {
    const { receipts, history } = await factory.create(t, { maxLen: 2 })
    const here = (await history.append({ roomId: 'here', userId: 'u', text: 'x' })).message.id
    // ids are per room: take one of 'there' that 'here' does not also have
    await history.append({ roomId: 'there', userId: 'u', text: 'y' })
    const there = (await history.append({ roomId: 'there', userId: 'u', text: 'z' })).message.id
    t.equal(await history.has('here', there), false)
    t.equal(await receipts.mark('here', 'alice', there), 'not_found', 'a message of another room')
    t.equal(await receipts.mark('here', 'alice', '1-0'), 'not_found', 'no such message')
    t.equal(await receipts.mark('nowhere', 'alice', here), 'not_found', 'a room without history')
    t.same(await receipts.list('here'), {}, 'nothing stored')
    for (let i = 0; i < 3; i++) await history.append({ roomId: 'here', userId: 'u', text: `${i}` })
    t.equal(await receipts.mark('here', 'alice', here), 'not_found', 'trimmed out of history')
  })

  t.test(`${n}: concurrent receipts end at the newest`, async (t) => {
    const { receipts, history } = await factory.create(t, { maxLen: 100 })
    const m: string[] = []
    for (let i = 0; i < 30; i++) m.push((await history.append({ roomId: 'r', userId: 'u', text: `${i}` })).message.id)
    // newest first, so that a store without compare-and-set would end on an old one
    const results = await Promise.all([...m].reverse().map(id => receipts.mark('r', 'alice', id)))
    t.equal(results[0], 'advanced', 'the newest moved it')
    t.same(await receipts.list('r'), { alice: m[29] })
    t.equal(results.filter(r => r === 'advanced').length >= 1, true)
  })
}
