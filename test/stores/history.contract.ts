/**
 * The HistoryStore contract, run against every implementation (history.test.ts): ids and
 * paging (SPEC §6 cursor rules), catch-up with an honest `recovered` (SPEC §5 room:join), the
 * 24 h idempotency of SPEC §8 under concurrency, and publication in history order.
 */
import type { Test } from 'tap'
import type { HistoryStore, MessageDraft } from '../../src/stores/history.js'
import type { Message } from '../../src/schemas/common.js'
import { compareIds, parseId } from '../../src/model/message-id.js'
import { until } from '../helpers/net.js'

export interface HistoryHarness {
  store: HistoryStore
  /** forgets a room's history as a flush or a deleted stream would */
  reset: (roomId: string) => Promise<void>
  /** resolves once listeners registered so far will hear what is appended next */
  listening: () => Promise<void>
  /** with an archive: archives everything appended so far (and lets Redis trim) */
  settle?: () => Promise<void>
}

export interface HistoryFactory {
  name: string
  /** a fresh store (its own key space) keeping `maxLen` messages per room */
  create: (t: Test, opts: { maxLen: number }) => Promise<HistoryHarness>
  /**
   * backed by an archive (issue 16): `maxLen` then bounds only the Redis window, history reads
   * and `has` see every archived message, and a reset loses nothing archived
   */
  archived?: boolean
  /** takes the send limit just before the append rather than in it (Redis Cluster: other slots) */
  limitFirst?: boolean
}

const draft = (roomId: string, text: string, extra: Partial<MessageDraft> = {}): MessageDraft =>
  ({ roomId, userId: 'alice', text, ...extra })

async function fill (store: HistoryStore, roomId: string, n: number): Promise<Message[]> {
  const out: Message[] = []
  for (let i = 0; i < n; i++) out.push((await store.append(draft(roomId, `m${i}`))).message)
  return out
}

const ids = (ms: Message[]): string[] => ms.map(m => m.id)

export function historyContract (t: Test, factory: HistoryFactory): void {
  const n = factory.name

  t.test(`${n}: append gives increasing ids and keeps the fields`, async (t) => {
    const { store } = await factory.create(t, { maxLen: 100 })
    const a = await store.append(draft('r', 'hello', { name: 'Alice', meta: { k: [1, 'x'] }, clientMsgId: 'c1' }))
    t.equal(a.duplicate, false)
    t.match(a.message, { roomId: 'r', userId: 'alice', name: 'Alice', text: 'hello', meta: { k: [1, 'x'] }, clientMsgId: 'c1' })
    t.match(a.message.id, /^\d+-\d+$/)
    t.equal(a.message.at, Number(a.message.id.split('-')[0]), '`at` is the id\'s epoch ms')
    t.ok(Math.abs(a.message.at - Date.now()) < 5000, 'at is now')
    const b = await store.append(draft('r', 'plain'))
    t.notOk('name' in b.message || 'meta' in b.message || 'clientMsgId' in b.message, 'absent fields stay absent')
    t.ok(compareIds(b.message.id, a.message.id) > 0)
    const all = await fill(store, 'r', 30)
    for (let i = 1; i < all.length; i++) t.ok(compareIds(all[i].id, all[i - 1].id) > 0, 'strictly increasing within a millisecond too')
    const page = await store.range('r', { limit: 100 })
    t.same(page.messages[0], a.message, 'history returns the message as append returned it')
  })

  t.test(`${n}: range follows the cursor rules`, async (t) => {
    const { store } = await factory.create(t, { maxLen: 100 })
    t.same(await store.range('empty', { limit: 50 }), { messages: [], hasMore: false }, 'empty room')
    const m = await fill(store, 'r', 10)
    const all = ids(m)

    t.same(ids((await store.range('r', { limit: 10 })).messages), all, 'exactly limit: all of them')
    t.equal((await store.range('r', { limit: 10 })).hasMore, false, 'exactly limit: nothing older')
    const newest = await store.range('r', { limit: 3 })
    t.same(ids(newest.messages), all.slice(7), 'no cursor: the newest, oldest first')
    t.equal(newest.hasMore, true)

    const before = await store.range('r', { before: all[5], limit: 3 })
    t.same(ids(before.messages), all.slice(2, 5), 'before: the newest before it, exclusive')
    t.equal(before.hasMore, true)
    t.same(await store.range('r', { before: all[3], limit: 3 }), { messages: m.slice(0, 3), hasMore: false })
    t.same(await store.range('r', { before: all[0], limit: 3 }), { messages: [], hasMore: false }, 'before the first')
    t.same(await store.range('r', { before: '0-0', limit: 3 }), { messages: [], hasMore: false }, 'before 0-0')

    const after = await store.range('r', { after: all[2], limit: 3 })
    t.same(ids(after.messages), all.slice(3, 6), 'after: the first after it, exclusive')
    t.equal(after.hasMore, true)
    t.same(await store.range('r', { after: all[6], limit: 3 }), { messages: m.slice(7), hasMore: false })
    t.same(await store.range('r', { after: all[9], limit: 3 }), { messages: [], hasMore: false }, 'after the last')
    t.same(ids((await store.range('r', { after: '0-0', limit: 2 })).messages), all.slice(0, 2), 'after 0-0: from the start')

    const both = await store.range('r', { after: all[1], before: all[8], limit: 4 })
    t.same(ids(both.messages), all.slice(2, 6), 'after and before: a window from after')
    t.equal(both.hasMore, true, 'more between the two')
    t.same(await store.range('r', { after: all[1], before: all[6], limit: 4 }), { messages: m.slice(2, 6), hasMore: false }, 'window exactly filled')
    t.same(await store.range('r', { after: all[5], before: all[5], limit: 4 }), { messages: [], hasMore: false }, 'after = before')
    t.same(await store.range('r', { after: all[6], before: all[2], limit: 4 }), { messages: [], hasMore: false }, 'after past before')

    // ids that are not in history still order correctly
    const [ms4, seq4] = all[4].split('-').map(Number)
    const between = `${ms4}-${seq4 + 1000}`
    const expectAfter = m.filter(x => compareIds(x.id, between) > 0)
    t.same(ids((await store.range('r', { after: between, limit: 100 })).messages), ids(expectAfter), 'a cursor not in history')
    t.same(ids((await store.range('r', { before: '999999999999999-0', limit: 2 })).messages), all.slice(8), 'a cursor in the future')
    const padded = all[3].replace(/^(\d+)-(\d+)$/, '000$1-00$2')
    t.same(ids((await store.range('r', { after: padded, limit: 1 })).messages), [all[4]], 'ids compare as numbers, not strings')
    t.same(await store.range('other', { after: all[0], limit: 5 }), { messages: [], hasMore: false }, 'rooms are separate')
  })

  t.test(`${n}: since answers the missed messages and whether it recovered`, async (t) => {
    const { store } = await factory.create(t, { maxLen: 100 })
    t.same(await store.since('nothing', '1-0', 200), { missed: [], hasMore: false, recovered: false }, 'a room without history cannot vouch for anything')
    const m = await fill(store, 'r', 8)
    t.same(await store.since('r', m[7].id, 200), { missed: [], hasMore: false, recovered: true }, 'up to date')
    t.same(await store.since('r', m[2].id, 200), { missed: m.slice(3), hasMore: false, recovered: true }, 'missed, oldest first')
    t.same(await store.since('r', m[2].id, 3), { missed: m.slice(3, 6), hasMore: true, recovered: true }, 'at most limit; hasMore')
    t.same(await store.since('r', m[0].id, 200), { missed: m.slice(1), hasMore: false, recovered: true }, 'since the oldest kept')
    const older = `${Number(m[0].id.split('-')[0]) - 1}-0`
    t.equal((await store.since('r', older, 200)).recovered, false, 'older than this history began')
  })

  t.test(`${n}: since is not recovered once trimming passed it`, async (t) => {
    const { store, settle } = await factory.create(t, { maxLen: 5 })
    const m = await fill(store, 'r', 5)
    t.equal((await store.since('r', m[0].id, 200)).recovered, true, 'nothing trimmed yet')
    const more = await fill(store, 'r', 2)
    if (factory.archived === true) {
      await settle?.()
      t.same(ids((await store.range('r', { limit: 100 })).messages), ids([...m, ...more]), 'the archive keeps what Redis trimmed')
      t.same(await store.since('r', m[0].id, 200), { missed: [...m, ...more].slice(1), hasMore: false, recovered: true }, 'recovered from the archive')
      return
    }
    const kept = [...m, ...more].slice(-5)
    t.same(ids((await store.range('r', { limit: 100 })).messages), ids(kept), 'keeps maxLen')
    const r = await store.since('r', m[0].id, 200)
    t.same(r, { missed: kept, hasMore: false, recovered: false }, 'older than the oldest kept: what is left, and recovered false')
    t.equal((await store.since('r', kept[0].id, 200)).recovered, true, 'the oldest kept itself is fine')
  })

  t.test(`${n}: a reset starts a new epoch that old positions do not belong to`, async (t) => {
    const { store, reset } = await factory.create(t, { maxLen: 100 })
    const old = await fill(store, 'r', 3)
    // a flush loses the old epoch's start as well; only an epoch begun in this very millisecond
    // could then collide with the next one (README), so let that millisecond pass
    await until(() => Date.now() > parseId(old[2].id)[0], 1000, 1)
    const archived = factory.archived === true
    await reset('r')
    t.same(await store.since('r', old[2].id, 200), { missed: [], hasMore: false, recovered: false }, 'gone')
    t.same(await store.range('r', { limit: 10 }), { messages: archived ? old : [], hasMore: false }, archived ? 'the archive still has it' : 'gone')
    const fresh = await fill(store, 'r', 2)
    t.ok(compareIds(fresh[0].id, old[2].id) > 0, 'new ids continue past the old ones')
    const r = await store.since('r', old[2].id, 200)
    t.same(r, { missed: fresh, hasMore: false, recovered: false }, 'the new epoch\'s messages, but not recovered')
    if (archived) t.same((await store.since('r', old[0].id, 200)).missed, [...old.slice(1), ...fresh], 'both epochs, seamlessly')
    t.equal((await store.since('r', fresh[0].id, 200)).recovered, true, 'positions of the new epoch recover')
  })

  t.test(`${n}: has() answers for kept messages only`, async (t) => {
    const { store, settle } = await factory.create(t, { maxLen: 3 })
    const m = await fill(store, 'r', 4)
    await settle?.()
    t.equal(await store.has('r', m[3].id), true)
    t.equal(await store.has('r', m[3].id.replace(/^(\d+)-(\d+)$/, '0$1-0$2')), true, 'numeric spelling')
    t.equal(await store.has('r', m[0].id), factory.archived === true, factory.archived === true ? 'trimmed from Redis, in the archive' : 'trimmed')
    t.equal(await store.has('other', m[3].id), false, 'another room')
    t.equal(await store.has('r', '1-0'), false, 'never existed')
  })

  t.test(`${n}: a repeat of (userId, roomId, clientMsgId) returns the first message and publishes nothing`, async (t) => {
    const { store, listening } = await factory.create(t, { maxLen: 100 })
    const heard: Message[] = []
    store.onMessage(m => { if (m.roomId === 'idem') heard.push(m) })
    await listening()
    const first = await store.append(draft('idem', 'one', { clientMsgId: 'k1' }))
    const again = await store.append(draft('idem', 'changed text', { clientMsgId: 'k1', name: 'X' }))
    t.equal(again.duplicate, true)
    t.same(again.message, first.message, 'unchanged')
    const otherUser = await store.append(draft('idem', 'bob', { userId: 'bob', clientMsgId: 'k1' }))
    t.equal(otherUser.duplicate, false, 'another user')
    const otherRoom = await store.append(draft('idem-2', 'x', { clientMsgId: 'k1' }))
    t.equal(otherRoom.duplicate, false, 'another room')
    const onBehalf = await store.append(draft('idem', 'from a service', { userId: 'bob', sender: 'svc', clientMsgId: 'k1' }))
    t.equal(onBehalf.duplicate, false, 'a service posting for bob does not collide with bob\'s own key')
    t.equal((await store.append(draft('idem', 'retry', { userId: 'bob', sender: 'svc', clientMsgId: 'k1' }))).duplicate, true, 'but its own retry does')
    const h = await store.range('idem', { limit: 100 })
    t.same(ids(h.messages), [first.message.id, otherUser.message.id, onBehalf.message.id], 'one message per key in history')
    await until(() => heard.length >= 3)
    await store.append(draft('idem', 'marker'))
    await until(() => heard.length >= 4)
    t.same(heard.map(m => m.text), ['one', 'bob', 'from a service', 'marker'], 'repeats were never published')
  })

  t.test(`${n}: concurrent repeats make one message`, async (t) => {
    const { store } = await factory.create(t, { maxLen: 100 })
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(draft('race', `try ${i}`, { clientMsgId: 'same' }))))
    t.equal(new Set(results.map(r => r.message.id)).size, 1, 'every answer carries the same id')
    t.equal(results.filter(r => !r.duplicate).length, 1, 'exactly one was fresh')
    t.equal((await store.range('race', { limit: 100 })).messages.length, 1, 'one message in history')
  })

  t.test(`${n}: a repeat is answered after its message left history`, async (t) => {
    const { store, settle } = await factory.create(t, { maxLen: 2 })
    const first = await store.append(draft('r', 'keep me', { clientMsgId: 'old' }))
    await fill(store, 'r', 3)
    await settle?.()
    t.equal(await store.has('r', first.message.id), factory.archived === true, 'trimmed (from Redis)')
    t.same(await store.append(draft('r', 'again', { clientMsgId: 'old' })), { message: first.message, duplicate: true })
  })

  t.test(`${n}: append enforces the sender's limit after the idempotency check`, async (t) => {
    const { store } = await factory.create(t, { maxLen: 100 })
    const limit = { key: `bucket-${Math.random()}`, rule: { burst: 2, perSecond: 1 } }
    if (factory.limitFirst === true) {
      // the limit is taken before the idempotency check: a repeat costs a token here
      await store.append(draft('lim', 'one', { clientMsgId: 'k1' }), limit)
      await store.append(draft('lim', 'two'), limit)
      await t.rejects(store.append(draft('lim', 'three'), limit), { code: 'rate_limited', retryAfterMs: Number }, 'over the burst')
      t.same((await store.range('lim', { limit: 10 })).messages.map(m => m.text), ['one', 'two'], 'nothing written when refused')
      return
    }
    const first = await store.append(draft('lim', 'one', { clientMsgId: 'k1' }), limit)
    await store.append(draft('lim', 'two'), limit)
    const repeat = await store.append(draft('lim', 'one', { clientMsgId: 'k1' }), limit)
    t.same(repeat, { message: first.message, duplicate: true }, 'a repeat over the limit still gets the first message')
    await t.rejects(store.append(draft('lim', 'three'), limit), { code: 'rate_limited', retryAfterMs: Number }, 'over the burst')
    try {
      await store.append(draft('lim', 'four'), limit)
    } catch (err) {
      const wait = (err as { retryAfterMs: number }).retryAfterMs
      t.ok(wait > 0 && wait <= 1000, `retryAfterMs within one refill (${wait})`)
    }
    t.same((await store.range('lim', { limit: 10 })).messages.map(m => m.text), ['one', 'two'], 'nothing written when refused')
    const other = await store.append(draft('lim', 'other bucket'), { key: `${limit.key}-b`, rule: limit.rule })
    t.equal(other.duplicate, false, 'buckets are per key')
  })

  t.test(`${n}: listeners hear every message in history order`, async (t) => {
    const { store, listening } = await factory.create(t, { maxLen: 1000 })
    const heard: Message[] = []
    store.onMessage(m => { if (m.roomId === 'order') heard.push(m) })
    await listening()
    // concurrent appends: whatever order they land in, publication follows it
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.append(draft('order', `c${i}`, { userId: `u${i % 4}` }))))
    await until(() => heard.length >= 40)
    const h = await store.range('order', { limit: 100 })
    t.same(ids(heard), ids(h.messages), 'published order == history order')
  })
}
