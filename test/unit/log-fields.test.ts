/** A token pasted into a request path never reaches a log line (developers' guide: no secrets in logs). */
import t from 'tap'
import { redactTokens } from '../../src/http/log-fields.js'
import { token } from '../helpers/tokens.js'

t.test('JWTs in a path are redacted; other paths are untouched', async (t) => {
  const jwt = token({ sub: 'alice' })
  t.equal(redactTokens(`/nope/${jwt}`), '/nope/<redacted>')
  t.equal(redactTokens(`/v1/rooms/${jwt}/messages`), '/v1/rooms/<redacted>/messages')
  t.notMatch(redactTokens(`/a/${jwt}/b/${jwt}`), /eyJ/, 'every one of them')
  t.equal(redactTokens('/v1/rooms/lobby/messages'), '/v1/rooms/lobby/messages')
  t.equal(redactTokens('/v1/presence/eyJust-a-name'), '/v1/presence/eyJust-a-name', 'a word that merely starts like one stays')
})
