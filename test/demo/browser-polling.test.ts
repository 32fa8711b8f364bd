/** The /demo chat in Chromium over polling; see browser-case.ts. */
import { browserCase } from './browser-case.js'

await browserCase('polling')
