/**
 * `auth:refresh` (SPEC §5): a new token for the same `sub` replaces the socket's principal
 * and its expiry; a narrower token takes effect at once (rooms it no longer allows are left).
 */
import { appError } from '../../errors.js'
import type { Authenticate } from '../../domain/principal.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import type { ExpiryScheduler } from '../expiry.js'
import { disallowedRooms, type AssertAccess } from '../membership.js'
import type { Define } from '../wrap.js'
import type { RoomMembership } from './rooms.js'

const checkRefresh = compileValidator(S.AuthRefresh)

export interface AuthHandlerDeps {
  define: Define
  authenticate: Authenticate
  assertAccess: AssertAccess
  expiry: ExpiryScheduler
  membership: RoomMembership
}

export function createAuthHandlers (deps: AuthHandlerDeps) {
  const { define, authenticate, assertAccess, expiry, membership } = deps
  return {
    refresh: define('auth:refresh', checkRefresh, async (socket, { token }, deadline) => {
      const next = await authenticate(token)
      const current = socket.data.principal
      if (next.sub !== current.sub) throw appError('forbidden', 'a refreshed token must be for the same sub')
      socket.data.principal = next
      expiry.track(socket, next.exp)
      // a narrower token (rooms claim, role, ROOM_ACCESS) takes effect at once: the full room
      // rule is applied again to every joined room, and those no longer allowed are left
      for (const room of disallowedRooms(socket, assertAccess)) {
        await socket.leave(room)
        await membership.left(socket, room, deadline)
      }
      return { expiresAt: next.exp }
    })
  }
}
