/**
 * The broadcast step of the message path: every message the HistoryStore publishes (from any
 * instance, in history order) is emitted to this instance's sockets in its room. `local`
 * because every instance relays for itself; going through the adapter again would deliver
 * each message once per instance.
 */
import type { HistoryStore } from '../stores/history.js'
import type { AppNamespace } from './types.js'

export function startRelay (history: HistoryStore, nsp: AppNamespace): void {
  history.onMessage((message) => {
    nsp.local.to(message.roomId).emit('message:new', message)
  })
}
