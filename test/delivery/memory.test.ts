/** The delivery matrix (matrix.ts) with the in-process adapter and stores: one instance. */
import t from 'tap'
import { startCluster } from './lib.js'
import { deliveryMatrix } from './matrix.js'

const cluster = await startCluster(t, 'memory', 40)
deliveryMatrix(t, cluster)
