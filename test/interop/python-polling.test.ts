/** python3-socketio against the server over polling; see python-case.ts. */
import { pythonCase } from './python-case.js'

await pythonCase('polling')
