/** Pure room rules and the error catalog. */
import t from 'tap'
import { assertRoomAccess, matchesRoomPattern, isReservedRoom, isValidRoomId } from '../../src/domain/rooms.js'
import { appError, toAck, toRestError, normalizeError } from '../../src/errors.js'
import type { Principal } from '../../src/domain/principal.js'
import { compileValidator } from '../../src/schemas/validate.js'
import { RoomJoin } from '../../src/schemas/socket.js'

const user: Principal = { sub: 'u', role: 'user', exp: Date.now() + 60_000 }

t.test('patterns', async (t) => {
  t.ok(matchesRoomPattern(['team-1:*'], 'team-1:x'))
  t.ok(matchesRoomPattern(['team-1:*'], 'team-1:'))
  t.notOk(matchesRoomPattern(['team-1:*'], 'team-10:x'))
  t.ok(matchesRoomPattern(['lobby'], 'lobby'))
  t.notOk(matchesRoomPattern(['lobby'], 'lobby-2'))
  t.ok(matchesRoomPattern(['*'], 'anything'))
  t.notOk(matchesRoomPattern([], 'anything'))
  t.ok(isReservedRoom('user:x') && isReservedRoom('system:x'))
  t.notOk(isReservedRoom('users:x'))
  t.ok(isValidRoomId('a.b_c:d-e'))
  t.notOk(isValidRoomId('a b'))
  t.notOk(isValidRoomId('x'.repeat(129)))
})

t.test('access', async (t) => {
  t.doesNotThrow(() => assertRoomAccess(user, 'lobby', 'open'))
  t.throws(() => assertRoomAccess(user, 'lobby', 'claims'), { code: 'forbidden' })
  t.throws(() => assertRoomAccess({ ...user, role: 'admin' }, 'user:x', 'open'), { code: 'forbidden' })
  t.doesNotThrow(() => assertRoomAccess({ ...user, role: 'service' }, 'lobby', 'claims'))
  t.throws(() => assertRoomAccess({ ...user, role: 'service', rooms: ['a'] }, 'b', 'open'), { code: 'forbidden' }, 'a rooms claim narrows a service too')
})

t.test('error catalog', async (t) => {
  const e = appError('rate_limited', 'slow down', { retryAfterMs: 1234.2 })
  t.same(toAck(e), { ok: false, error: { code: 'rate_limited', message: 'slow down', retryAfterMs: 1235 } })
  t.same(toRestError(e), { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: 'slow down', retryAfterMs: 1235 })
  const internal = toAck(new Error('ECONNRESET at /secret/path.js:12'))
  t.same(internal, { ok: false, error: { code: 'internal', message: 'internal error' } }, 'unknown errors hide their internals')
  t.equal(toRestError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' }).code, 'payload_too_large')
  t.equal(normalizeError({ statusCode: 404 }).code, 'not_found')
  t.equal(toAck('a string thrown').error.code, 'internal')
  t.equal(toAck(null).error.code, 'internal')
})

t.test('validator details', async (t) => {
  const check = compileValidator(RoomJoin)
  t.same(check({ roomId: 'a' }), { roomId: 'a' })
  try {
    check({ roomId: 5, extra: 1 })
    t.fail('should throw')
  } catch (err) {
    const ack = toAck(err)
    t.equal(ack.error.code, 'invalid_payload')
    t.ok(ack.error.details?.some(d => d.path === '/roomId'))
    t.ok(ack.error.details?.some(d => /additional/.test(d.message)))
  }
})
