/**
 * Namespace `/admin` (SPEC §5), for `admin` principals only (the handshake refuses others with
 * `forbidden`). Both events are answered from state kept in Redis and reach other instances
 * through the adapter, so a dead or restarting instance never makes them hang.
 */
import type { PresenceService } from '../../domain/presence.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import { listen, type Define, type Logger } from '../handle.js'
import type { AppSocket } from '../types.js'

const statsGet = compileValidator(S.StatsGet)
const check = {
  // `emit('stats:get', ack)` without a payload means the same as `{}`
  stats: (v: unknown) => statsGet(v ?? {}),
  disconnect: compileValidator(S.UserDisconnect)
}

export const ADMIN_EVENTS = new Set(['stats:get', 'user:disconnect'])

export interface AdminHandlerDeps {
  define: Define
  service: PresenceService
  log: Logger
}

/** A per-socket registration for `realtime.adminExtensions`; its listeners are shared by all sockets. */
export function adminHandlers (deps: AdminHandlerDeps): (socket: AppSocket) => void {
  const { define, service, log } = deps

  function onUnknown (this: AppSocket, event: string, ...args: unknown[]): void {
    if (ADMIN_EVENTS.has(event)) return
    const ack = args[args.length - 1]
    if (typeof ack === 'function') ack({ ok: false, error: { code: 'not_found', message: `unknown event ${event.slice(0, 64)}` } })
  }
  const onStats = define('stats:get', check.stats, async () => await service.stats())
  const onDisconnectUser = define('user:disconnect', check.disconnect, async (socket, { userId, reason }) => {
    log.info({ by: socket.data.principal.sub, userId, reason }, 'admin disconnects a user')
    return await service.disconnectUser(userId)
  })

  return (socket) => {
    socket.onAny(onUnknown)
    listen(socket, 'stats:get', onStats)
    listen(socket, 'user:disconnect', onDisconnectUser)
  }
}
