/**
 * Namespace `/admin` (SPEC §5), for `admin` principals only (the handshake refuses others with
 * `forbidden`). Both events are answered from state kept in Redis and reach other instances
 * through the adapter, so a dead or restarting instance never makes them hang.
 */
import type { Logger } from '../../log.js'
import type { PresenceService } from '../../domain/presence.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import type { Define } from '../wrap.js'

const statsGet = compileValidator(S.StatsGet)
const check = {
  // `emit('stats:get', ack)` without a payload means the same as `{}`
  stats: (v: unknown) => statsGet(v ?? {}),
  disconnect: compileValidator(S.UserDisconnect)
}

export interface AdminHandlerDeps {
  define: Define
  service: PresenceService
  log: Logger
}

export function createAdminHandlers (deps: AdminHandlerDeps) {
  const { define, service, log } = deps
  return {
    stats: define('stats:get', check.stats, async (_socket, _payload, deadline) => await service.stats(deadline)),
    disconnectUser: define('user:disconnect', check.disconnect, async (socket, { userId, reason }, deadline) => {
      log.info({ by: socket.data.principal.sub, userId, reason }, 'admin disconnects a user')
      return await service.disconnectUser(userId, deadline)
    })
  }
}
