/**
 * `message:send`, `history:fetch` and `typing` (SPEC §5). A send goes to the message service,
 * the same function `POST /v1/rooms/:roomId/messages` calls; its broadcast reaches sockets
 * through the store's publication and the relay (src/realtime/relay.ts), never from here.
 * Typing is volatile and never stored.
 */
import type { MessageService } from '../../domain/messages.js'
import * as S from '../../schemas/socket.js'
import { compileValidator } from '../../schemas/validate.js'
import { assertMember } from '../membership.js'
import type { Define } from '../wrap.js'

const check = {
  send: compileValidator(S.MessageSend),
  history: compileValidator(S.HistoryFetch),
  typing: compileValidator(S.Typing)
}

export interface MessageHandlerDeps {
  define: Define
  messages: MessageService
  /** a message was accepted (not a repeat of a clientMsgId): SPEC §6 switchboard_messages_sent_total */
  onSent: () => void
}

export function createMessageHandlers (deps: MessageHandlerDeps) {
  const { define, messages, onSent } = deps
  const assertAccess = messages.assertAccess
  return {
    send: define('message:send', check.send, async (socket, payload, deadline) => {
      assertMember(socket, payload.roomId, assertAccess, 'sending to it')
      const { message, duplicate } = await messages.send(socket.data.principal, payload, 'socket', deadline)
      if (!duplicate) onSent()
      return { message }
    }),

    history: define('history:fetch', check.history, async (socket, q, deadline) => {
      const r = await messages.history(socket.data.principal, q, deadline)
      return { messages: r.messages, hasMore: r.hasMore }
    }),

    typing: define('typing', check.typing, (socket, { roomId, isTyping }) => {
      assertMember(socket, roomId, assertAccess, 'typing in it')
      socket.to(roomId).volatile.emit('typing', { roomId, userId: socket.data.principal.sub, isTyping })
      return undefined
    })
  }
}
