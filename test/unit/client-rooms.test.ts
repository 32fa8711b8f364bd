/**
 * The client's room state (src/client/rooms.ts, SPEC §9: "merges catch-up with live messages and
 * drops duplicates by id"), pure logic: a live message below the last delivered id is dropped
 * only when it was delivered; one that came late is delivered, and the history around it is read
 * once to deliver anything else that went missing (RELIABILITY.md F5: dropping it was a silent
 * loss). The request function stands in for the server's acks; real-server client tests are in
 * test/client/.
 */
import t from 'tap'
import { Rooms, RECENT } from '../../src/client/rooms.js'
import type { Message } from '../../src/client/types.js'

function msg (ms: number, roomId = 'r'): Message {
  return { id: `${ms}-0`, roomId, userId: 'u', text: `m${ms}`, createdAt: new Date(ms).toISOString() } as unknown as Message
}

/** A fake server holding one room's history; records every request. */
function fake (history: Message[]) {
  const calls: Array<{ event: string, payload: any }> = []
  const request = async (event: string, payload: any): Promise<any> => {
    calls.push({ event, payload })
    const after = payload.after ?? payload.since
    const newer = history.filter((m) => after === undefined || Number(m.id.split('-')[0]) > Number(String(after).split('-')[0]))
    if (event === 'room:join') {
      if (payload.since === undefined) return { ok: true }
      return { ok: true, missed: newer.slice(0, 100), hasMore: newer.length > 100, recovered: true }
    }
    const limit = payload.limit ?? 50
    const page = payload.after === undefined ? history.slice(-limit) : newer.slice(0, limit)
    return { ok: true, messages: page, hasMore: payload.after !== undefined && newer.length > limit }
  }
  return { calls, request }
}

async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

t.test('a duplicate below the last id is dropped; a late one is delivered once, and the gap around it is filled', async (t) => {
  const history: Message[] = []
  const f = fake(history)
  const got: string[] = []
  const rooms = new Rooms(f.request as any, (m) => got.push(m.id), () => {})
  await rooms.join('r', { since: '0-0' })
  t.same(got, [], 'the room was empty when joined')
  history.push(...[1, 2, 3, 4, 5, 6].map((n) => msg(n)))
  // live: 1, 2, then 5 (3 and 4 were not sent yet: the server sent them late or never)
  rooms.live(history[0]); rooms.live(history[1]); rooms.live(history[4])
  t.same(got, ['1-0', '2-0', '5-0'])
  rooms.live(history[1])
  t.same(got, ['1-0', '2-0', '5-0'], 'a repeat of a delivered id is dropped')
  rooms.live(history[2])
  t.same(got, ['1-0', '2-0', '5-0', '3-0'], 'a late id never delivered is delivered, not dropped')
  await settle()
  const fill = f.calls.filter((c) => c.event === 'history:fetch')
  t.equal(fill.length, 1, 'one history read after the late message')
  t.equal(fill[0].payload.after, '2-0', 'from the delivered id before it')
  t.same(got, ['1-0', '2-0', '5-0', '3-0', '4-0'], 'the other missing message is delivered by the fill, nothing twice, nothing past the newest')
  rooms.live(history[3])
  rooms.live(history[5])
  t.same(got, ['1-0', '2-0', '5-0', '3-0', '4-0', '6-0'], 'the late arrival of a filled id is a duplicate')
})

t.test('ids at or below the join position are never delivered', async (t) => {
  const history = [1, 2, 3].map((n) => msg(n))
  const f = fake(history)
  const got: string[] = []
  const rooms = new Rooms(f.request as any, (m) => got.push(m.id), () => {})
  await rooms.join('r')
  t.same(got, [], 'a join without history delivers nothing')
  rooms.live(history[1])
  rooms.live(history[0])
  t.same(got, [], 'messages before the position the room was joined at are not delivered')
  rooms.live(history[2])
  t.same(got, ['3-0'], 'the newest at join time is delivered if it arrives live (pending)')
  rooms.live(msg(4))
  rooms.live(history[2])
  t.same(got, ['3-0', '4-0'], 'then it is a delivered id like any other')
  await settle()
})

t.test('with RECENT ids remembered, an id older than all of them is treated as seen', async (t) => {
  const history = Array.from({ length: RECENT + 10 }, (_, i) => msg(i + 1))
  const f = fake([])
  const got: string[] = []
  const rooms = new Rooms(f.request as any, (m) => got.push(m.id), () => {})
  await rooms.join('r', { since: '0-0' })
  for (const m of history) if (m.id !== '3-0') rooms.live(m)
  const before = got.length
  rooms.live(history[2])
  t.equal(got.length, before, 'cannot be told from a duplicate: dropped rather than risk delivering twice')
  await settle()
  t.equal(f.calls.filter((c) => c.event === 'history:fetch').length, 0, 'and no history read')
})
