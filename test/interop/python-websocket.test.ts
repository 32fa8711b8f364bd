/** python3-socketio against the server over websocket; see python-case.ts. */
import { pythonCase } from './python-case.js'

await pythonCase('websocket')
