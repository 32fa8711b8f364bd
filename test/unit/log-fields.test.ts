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
  t.equal(redactTokens('/v1/rooms/team-alpha-2026.general-chat.x/messages'), '/v1/rooms/team-alpha-2026.general-chat.x/messages', 'a dotted room id stays')
  t.equal(redactTokens('/v1/presence/caf%C3%A9'), '/v1/presence/caf%C3%A9', 'a path without a token is logged as sent')
})

t.test('a percent-encoded JWT in a path is redacted too (found by the issue 9 attack)', async (t) => {
  const jwt = token({ sub: 'alice' })
  const [h, p, s] = jwt.split('.')
  const pct = (x: string): string => [...x].map(c => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('')
  const spaced = `${Buffer.from('{ "alg":"HS256","typ":"JWT"}').toString('base64url')}.${p}.${s}`
  for (const [name, path] of [
    ['first character encoded', `/v1/presence/%65${jwt.slice(1)}`],
    ['dots encoded', `/v1/presence/${h}%2E${p}%2E${s}`],
    ['every character encoded', `/v1/presence/${pct(jwt)}`],
    ['not valid UTF-8 elsewhere in the path', `/v1/%E0%A4%A/${pct(jwt.slice(0, 5))}${jwt.slice(5)}`],
    ['a header with a space (eyA…)', `/v1/presence/${spaced}`]
  ]) {
    const out = redactTokens(path)
    t.notOk(out.includes(s) || out.includes(p), `${name}: ${out.slice(0, 60)}`)
    t.match(out, /<redacted>/, `${name}: says so`)
  }
})
