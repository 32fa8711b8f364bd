/** The client through a drain of its instance (long-polling, balancer with health checks); see drain-case.ts. */
import { drainCase } from './drain-case.js'

await drainCase('polling', true)
