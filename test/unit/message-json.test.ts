/**
 * messageJson (src/stores/history.ts): the archiver writes a stored message's JSON spliced from
 * its stream id and stored body, never parsed; it must be the very message the reads build
 * (messageFrom) and the append publishes, for every draft shape.
 */
import t from 'tap'
import { draftBody, messageFrom, messageJson, messageOf } from '../../src/stores/history.js'
import type { MessageDraft } from '../../src/stores/history.js'

const drafts: MessageDraft[] = [
  { roomId: 'r', userId: 'u', text: 'hi' },
  { roomId: 'r-1', userId: 'bob', name: 'Bob "B" \\ é', text: 'a\nb\u2028c 😀', meta: { k: [1, { x: null }] }, clientMsgId: 'c-1' },
  { roomId: 'r', userId: 'u', text: '', meta: {} }
]

t.test('the spliced JSON is the message messageFrom reads and messageOf builds', async (t) => {
  for (const d of drafts) {
    const id = '1764460000123-7'
    const body = draftBody(d)
    const json = messageJson(id, body)
    t.same(JSON.parse(json), messageFrom(id, body), `draft ${drafts.indexOf(d)}: parses to the read message`)
    t.equal(json, JSON.stringify(messageOf(id, 1764460000123, d)), 'byte for byte the message, id first and at last')
  }
})

t.test('an empty stored body (a field the reads default to {}) still gives valid JSON', async (t) => {
  t.same(JSON.parse(messageJson('5-0', '{}')), { id: '5-0', at: 5 })
})
