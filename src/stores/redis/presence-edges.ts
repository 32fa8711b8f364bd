/**
 * The edges the presence scripts publish (JSON, lua/presence.ts), heard on every instance
 * through the shared subscriber connection and handed to this instance's listeners.
 */
import type { Cluster, Redis } from 'ioredis'
import { offlineState, type PresenceListener, type PresenceState, type RoomPresenceEvent, type RoomPresenceListener } from '../presence.js'
import type { RoomEdgeJson, UserEdgeJson } from './lua/presence.js'

export class PresenceEdges {
  readonly #sub: Redis | Cluster
  readonly #channel: string
  readonly #roomChannel: string
  readonly #listeners: PresenceListener[] = []
  readonly #roomListeners: RoomPresenceListener[] = []
  #subscribed: Promise<unknown> | undefined
  #onMessage: ((channel: string, message: string) => void) | undefined

  constructor (subscriber: Redis | Cluster, channel: string, roomChannel: string) {
    this.#sub = subscriber
    this.#channel = channel
    this.#roomChannel = roomChannel
  }

  onPresence (listener: PresenceListener): void {
    this.#listeners.push(listener)
    this.#subscribe()
  }

  onRoomPresence (listener: RoomPresenceListener): void {
    this.#roomListeners.push(listener)
    this.#subscribe()
  }

  /** Resolves once the subscription is active (or has failed and will be retried). */
  async ready (): Promise<void> {
    await this.#subscribed
  }

  close (): void {
    this.#listeners.length = 0
    this.#roomListeners.length = 0
    if (this.#onMessage !== undefined) this.#sub.off('message', this.#onMessage)
  }

  #subscribe (): void {
    if (this.#subscribed !== undefined) return
    this.#onMessage = (ch: string, message: string) => {
      if (ch === this.#channel) {
        const state = parseUserEdge(message)
        if (state !== undefined) for (const l of this.#listeners) l(state)
      } else if (ch === this.#roomChannel) {
        const event = parseRoomEdge(message)
        if (event !== undefined) for (const l of this.#roomListeners) l(event)
      }
    }
    this.#sub.on('message', this.#onMessage)
    // ioredis re-subscribes by itself after a reconnect
    this.#subscribed = this.#sub.subscribe(this.#channel, this.#roomChannel).catch(() => {})
  }
}

function parseJson (message: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(message)
    return typeof v === 'object' && v !== null ? v as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** A user edge `{ status, userId, connections, at }` as the PresenceState listeners get. */
export function parseUserEdge (message: string): PresenceState | undefined {
  const e = parseJson(message) as Partial<UserEdgeJson> | undefined
  if (e === undefined || typeof e.userId !== 'string' || typeof e.at !== 'number') return undefined
  if (e.status === 'online' && typeof e.connections === 'number') return { userId: e.userId, status: 'online', connections: e.connections, lastSeenAt: e.at }
  if (e.status === 'offline') return offlineState(e.userId, e.at)
  return undefined
}

/** A room edge `{ status, roomId, userId }`. */
export function parseRoomEdge (message: string): RoomPresenceEvent | undefined {
  const e = parseJson(message) as Partial<RoomEdgeJson> | undefined
  if (e === undefined || typeof e.roomId !== 'string' || typeof e.userId !== 'string') return undefined
  if (e.status !== 'joined' && e.status !== 'left') return undefined
  return { roomId: e.roomId, userId: e.userId, status: e.status }
}
