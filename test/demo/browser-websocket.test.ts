/** The /demo chat in Chromium over websocket; see browser-case.ts. */
import { browserCase } from './browser-case.js'

await browserCase('websocket')
