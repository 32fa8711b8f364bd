/** The delivery matrix (matrix.ts) with ADAPTER=redis: two server processes on one Redis. */
import t from 'tap'
import { startCluster } from './lib.js'
import { deliveryMatrix } from './matrix.js'

const cluster = await startCluster(t, 'redis', 40)
deliveryMatrix(t, cluster)
