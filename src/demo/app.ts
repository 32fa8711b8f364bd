/// <reference lib="dom" />
/**
 * The `/demo` chat (SPEC §6), in the browser, on `switchboard/client` and nothing else: sign in
 * as a name (a development token from `/demo/token`, or a pasted JWT), join rooms, history
 * paging, presence dots, typing, read receipts, and the client's status as the user sees it
 * ("reconnecting… / caught up N messages / gap"). Bundled by esbuild when /demo is first asked for.
 */
import { createClient, type Message, type SwitchboardClient } from '../client/index.js'

const $ = <T extends HTMLElement>(sel: string): T => document.querySelector(sel) as T
const params = new URLSearchParams(location.search)
const transports = params.get('transport') === 'polling' ? ['polling' as const] : ['websocket' as const]

let client: SwitchboardClient | undefined
let me = ''
let current = ''
let tokenNow = ''
const rooms = new Map<string, { messages: Map<string, Message>, oldest?: string, members: Map<string, string>, receipts: Map<string, string>, typing: Map<string, number> }>()

function status (text: string, kind = ''): void {
  const el = $('#status')
  el.textContent = text
  el.dataset.kind = kind
}

async function devToken (name: string): Promise<string> {
  const res = await fetch('/demo/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  if (!res.ok) throw new Error(`no development token (${res.status}): paste a JWT instead`)
  return ((await res.json()) as { token: string }).token
}

async function api<T> (path: string): Promise<T> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${tokenNow}` } })
  if (!res.ok) throw new Error(`${path}: ${res.status}`)
  return await res.json() as T
}

function room (id: string): NonNullable<ReturnType<typeof rooms.get>> {
  let r = rooms.get(id)
  if (r === undefined) rooms.set(id, (r = { messages: new Map(), members: new Map(), receipts: new Map(), typing: new Map() }))
  return r
}

function el (tag: string, attrs: Record<string, string>, text = ''): HTMLElement {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  e.textContent = text
  return e
}

function render (): void {
  const tabs = $('#rooms')
  tabs.replaceChildren(...[...rooms.keys()].map(id => {
    const b = el('button', { 'data-room': id, class: id === current ? 'tab on' : 'tab' }, `#${id}`)
    b.onclick = () => { current = id; render() }
    return b
  }))
  const r = rooms.get(current)
  if (r === undefined) return
  const ids = [...r.messages.keys()] // kept in id order by insert()
  $('#messages').replaceChildren(...ids.map(id => {
    const m = r.messages.get(id) as Message
    const li = el('li', { 'data-id': m.id, class: m.userId === me ? 'mine' : '' })
    li.append(el('b', {}, m.name ?? m.userId), document.createTextNode(' ' + m.text))
    const readers = [...r.receipts].filter(([u, upTo]) => u !== me && u !== m.userId && upTo === m.id).map(([u]) => u)
    if (readers.length > 0) li.append(el('small', { class: 'seen' }, ` seen by ${readers.join(', ')}`))
    return li
  }))
  $('#members').replaceChildren(...[...r.members].map(([u, s]) => {
    const li = el('li', { class: 'member', 'data-user': u, 'data-status': s })
    li.append(el('span', { class: `dot ${s}` }), document.createTextNode(` ${u}`))
    return li
  }))
  const typing = [...r.typing].filter(([, until]) => until > Date.now()).map(([u]) => u)
  $('#typing').textContent = typing.length > 0 ? `${typing.join(', ')} typing…` : ''
  $('#older').hidden = r.oldest === undefined
}

/** Adds messages to a room, kept in id order, each id once. */
function insert (roomId: string, list: Message[]): void {
  const r = room(roomId)
  const all = [...r.messages.values(), ...list.filter(m => !r.messages.has(m.id))]
  all.sort((a, b) => compare(a.id, b.id))
  r.messages = new Map(all.map(m => [m.id, m]))
  render()
}

function compare (a: string, b: string): number {
  const [am, as] = a.split('-').map(Number)
  const [bm, bs] = b.split('-').map(Number)
  return (am - bm) || (as - bs)
}

let readTimer: ReturnType<typeof setTimeout> | undefined
function markRead (): void {
  clearTimeout(readTimer)
  readTimer = setTimeout(() => {
    const r = rooms.get(current)
    const last = r === undefined ? undefined : [...r.messages.keys()].pop()
    if (client !== undefined && last !== undefined) client.read(current, last).catch(() => {})
  }, 300)
}

async function join (roomId: string): Promise<void> {
  if (client === undefined) return
  current = roomId
  room(roomId)
  // the newest 20 arrive as 'message' events, merged with live ones by the client
  await client.join(roomId, { history: 20 })
  const r = room(roomId)
  if (r.messages.size >= 20) r.oldest = r.messages.keys().next().value
  const [presence, receipts] = await Promise.all([
    api<{ users: Array<{ userId: string }> }>(`/v1/rooms/${encodeURIComponent(roomId)}/presence`),
    api<{ receipts: Record<string, string> }>(`/v1/rooms/${encodeURIComponent(roomId)}/receipts`)
  ])
  for (const [u, id] of Object.entries(receipts.receipts)) r.receipts.set(u, id)
  const users = presence.users.map(u => u.userId)
  if (users.length > 0) for (const s of await client.subscribe(users)) r.members.set(s.userId, s.status)
  render()
  markRead()
}

async function signIn (): Promise<void> {
  const name = ($('#name') as HTMLInputElement).value.trim()
  const pasted = ($('#jwt') as HTMLInputElement).value.trim()
  me = name
  tokenNow = pasted !== '' ? pasted : await devToken(name)
  const c = client = createClient({
    url: location.origin,
    transports,
    token: pasted !== '' ? pasted : async () => (tokenNow = await devToken(name))
  })
  // the client, for the browser console (`demo.client.on('message', console.log)`) and the browser test
  ;(window as unknown as { demo: { client: SwitchboardClient } }).demo = { client: c }
  c.on('status', (s) => { if (s !== 'connected') status(s === 'reconnecting' ? 'reconnecting…' : s, s) })
  c.on('connected', () => status('connected', 'connected'))
  // a rejoin that was not recovered tells `gap` and then `caughtUp`: the gap stays on show
  c.on('caughtUp', (e) => {
    const caught = `caught up ${e.count} message${e.count === 1 ? '' : 's'} in #${e.roomId}`
    if (e.recovered) status(caught, 'caught-up')
    else status(`gap in #${e.roomId}: some messages may be missing (${caught})`, 'gap')
  })
  c.on('stopped', (e) => status(`stopped: ${e.code}`, 'stopped'))
  // a message from someone ends their typing (the volatile typing: false may have been dropped)
  c.on('message', (m) => { room(m.roomId).typing.delete(m.userId); insert(m.roomId, [m]); if (m.roomId === current) markRead() })
  c.on('typing', (e) => { room(e.roomId).typing.set(e.userId, e.isTyping ? Date.now() + 4000 : 0); render(); setTimeout(render, 4100) })
  c.on('receipt', (e) => { room(e.roomId).receipts.set(e.userId, e.messageId); render() })
  c.on('roomPresence', (e) => {
    const r = room(e.roomId)
    if (e.status === 'joined') {
      r.members.set(e.userId, 'online')
      c.subscribe([e.userId]).catch(() => {})
    }
    render()
  })
  c.on('presence', (p) => { for (const r of rooms.values()) if (r.members.has(p.userId)) r.members.set(p.userId, p.status); render() })
  $('#signin').hidden = true
  $('#chat').hidden = false
  $('#me').textContent = me
}

$('#signin').onsubmit = (e) => { e.preventDefault(); signIn().catch((err: Error) => status(err.message, 'stopped')) }
$('#join').onsubmit = (e) => {
  e.preventDefault()
  const input = $('#room') as HTMLInputElement
  join(input.value.trim()).catch((err: Error) => status(err.message, 'stopped'))
  input.value = ''
}
$('#compose').onsubmit = (e) => {
  e.preventDefault()
  const input = $('#text') as HTMLInputElement
  const text = input.value
  if (client === undefined || text.trim() === '' || current === '') return
  input.value = ''
  client.typing(current, false)
  client.send(current, text).catch((err: Error & { code?: string }) => status(`not sent: ${err.code ?? err.message}`, 'stopped'))
}
$('#text').oninput = () => { if (client !== undefined && current !== '') client.typing(current, true) }
$('#older').onclick = async () => {
  const r = rooms.get(current)
  if (client === undefined || r?.oldest === undefined) return
  const page = await client.history(current, { before: r.oldest, limit: 20 })
  r.oldest = page.hasMore ? page.messages[0]?.id : undefined
  insert(current, page.messages)
}
