/**
 * The client address of an HTTP request (REST or an Engine.IO handshake), for per-IP limits.
 * One function, so that the rule (today: the first X-Forwarded-For entry, else the TCP peer, as
 * REST's `trustProxy: true` reads it) is the same everywhere and changes in one place.
 */
import type { IncomingMessage } from 'node:http'

export function clientAddress (req: Pick<IncomingMessage, 'headers' | 'socket'>): string {
  const xff = req.headers['x-forwarded-for']
  const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim()
  return first !== undefined && first !== '' ? first : (req.socket?.remoteAddress ?? 'unknown')
}
