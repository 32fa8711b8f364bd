// examples/hello.mjs: join a room, send a message, print its broadcast, exit.
// From the repository, with an instance running (npm start):
//   export TOKEN=$(npm run -s token -- --sub alice --name Alice --ttl 1h)
//   node examples/hello.mjs
import { io } from 'socket.io-client'

const socket = io(process.env.URL ?? 'http://localhost:3000', { auth: { token: process.env.TOKEN }, transports: ['websocket'] })
socket.on('connect_error', (err) => {
  console.error('connect_error:', err.message) // e.g. unauthorized: is TOKEN exported?
  process.exit(1)
})
const heard = new Promise((resolve) => socket.once('message:new', resolve))
console.log(await socket.timeout(5000).emitWithAck('room:join', { roomId: 'lobby' })) // { ok: true, roomId }
console.log(await socket.timeout(5000).emitWithAck('message:send', { roomId: 'lobby', text: 'hi' })) // { ok: true, message }
const m = await heard
console.log('message:new', m.userId, m.text)
socket.close()
