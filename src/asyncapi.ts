/**
 * The AsyncAPI 3.0 document of the socket API (SPEC §5, served at `/docs/asyncapi.json`),
 * generated from the event tables in src/schemas/events.ts — the schemas the handlers validate
 * with — so it cannot drift from the code. One channel per namespace; each client → server event
 * is a `receive` operation whose `reply` is its ack, each server → client event a `send`
 * operation; the handshake (`auth.token`) is the security scheme and its refusals the
 * `connect_error` message. Keys are `c2s.<event>` (client → server), `c2s.<event>.ack` and
 * `s2c.<event>` (server → client), with `:` spelled `.` (AsyncAPI keys are `[\w.-]`); each
 * message's `name` is the event name.
 */
import type { TSchema } from './schemas/type.js'
import {
  AckError, AdminClientEvents, AdminServerEvents, CONNECT_ERROR_CODES, ConnectErrorData, HandshakeAuth,
  MainClientEvents, MainServerEvents
} from './schemas/events.js'

type Json = Record<string, unknown>

/** TypeBox schemas are JSON Schema plus symbol-keyed metadata: keep the JSON part. */
const plain = (s: TSchema): Json => JSON.parse(JSON.stringify(s)) as Json
const key = (event: string): string => event.replace(/:/g, '.')

interface Namespace {
  id: string
  address: string
  description: string
  client: Record<string, { payload: TSchema, ack: TSchema, description: string }>
  server: Record<string, { payload: TSchema, description: string }>
  refusals: readonly string[]
}

const NAMESPACES: Namespace[] = [
  {
    id: 'main',
    address: '/',
    description: 'Namespace `/`: rooms, messages, typing, receipts, presence and token refresh for every authenticated principal.',
    client: MainClientEvents,
    server: MainServerEvents,
    refusals: CONNECT_ERROR_CODES.filter(c => c !== 'forbidden')
  },
  {
    id: 'admin',
    address: '/admin',
    description: 'Namespace `/admin`: operator events, for principals with role `admin` (others are refused with `forbidden`).',
    client: AdminClientEvents,
    server: AdminServerEvents,
    refusals: CONNECT_ERROR_CODES
  }
]

export function asyncApiDocument (opts: { version: string }): Json {
  const channels: Json = {}
  const operations: Json = {}
  const ackError = plain(AckError)

  for (const ns of NAMESPACES) {
    const messages: Json = {}
    const ref = (k: string): Json => ({ $ref: `#/channels/${ns.id}/messages/${k}` })
    const channel = { $ref: `#/channels/${ns.id}` }

    for (const [event, e] of Object.entries(ns.client)) {
      const k = `c2s.${key(event)}`
      messages[k] = { name: event, title: event, summary: e.description, payload: plain(e.payload) }
      messages[`${k}.ack`] = {
        name: `${event} ack`,
        title: `${event} acknowledgement`,
        summary: 'the answer passed to the ack callback',
        payload: { anyOf: [plain(e.ack), ackError] }
      }
      operations[`${ns.id}.${k}`] = {
        action: 'receive',
        title: event,
        summary: e.description,
        channel,
        messages: [ref(k)],
        reply: { channel, messages: [ref(`${k}.ack`)] },
        security: [{ $ref: '#/components/securitySchemes/handshakeToken' }]
      }
    }
    for (const [event, e] of Object.entries(ns.server)) {
      const k = `s2c.${key(event)}`
      messages[k] = { name: event, title: event, summary: e.description, payload: plain(e.payload) }
      operations[`${ns.id}.${k}`] = { action: 'send', title: event, summary: e.description, channel, messages: [ref(k)] }
    }
    messages.connect_error = {
      name: 'connect_error',
      title: 'connect_error',
      summary: `the handshake was refused: message is the code (${ns.refusals.join(', ')}), data is { code, message, retryAfterMs? }`,
      payload: {
        type: 'object',
        required: ['message', 'data'],
        properties: { message: { enum: [...ns.refusals] }, data: plain(ConnectErrorData) }
      }
    }
    operations[`${ns.id}.connect_error`] = {
      action: 'send',
      title: 'connect_error',
      summary: 'sent instead of the namespace connection when the handshake is refused',
      channel,
      messages: [ref('connect_error')]
    }
    channels[ns.id] = { address: ns.address, title: `namespace ${ns.address}`, description: ns.description, messages }
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Switchboard socket API',
      version: opts.version,
      description: 'Socket.IO 4 namespaces of Switchboard (SPEC §5). Every event takes an ack callback; every ack is ' +
        '`{ ok: true, ... }` or `{ ok: false, error: { code, message, retryAfterMs?, details? } }`. With connection state ' +
        'recovery on, broadcast events carry one more argument (the recovery offset), which one-argument handlers can ignore. ' +
        'REST: /docs/json.'
    },
    defaultContentType: 'application/json',
    servers: {
      switchboard: {
        host: '{host}',
        protocol: 'socket.io',
        protocolVersion: '5',
        pathname: '/socket.io/',
        description: 'Engine.IO transports websocket and polling (TRANSPORTS); namespaces are the channels',
        variables: { host: { default: 'localhost:3000' } },
        security: [{ $ref: '#/components/securitySchemes/handshakeToken' }]
      }
    },
    channels,
    operations,
    components: {
      schemas: { HandshakeAuth: plain(HandshakeAuth) },
      securitySchemes: {
        handshakeToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'The handshake carries `auth: { token }` (schema HandshakeAuth) or an `Authorization: Bearer` header; never a query parameter. Refusals arrive as connect_error.'
        }
      }
    }
  }
}
