/** The client through a drain of its instance (websocket, balancer without health checks: reconnects meet the draining instance's refusals); see drain-case.ts. */
import { drainCase } from './drain-case.js'

await drainCase('websocket', false)
