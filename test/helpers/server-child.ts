/**
 * Entry of the server processes the tests spawn: the real `src/server.ts`, plus a leash — when
 * the test process that spawned it dies (even by SIGKILL on a tap timeout), its stdin pipe
 * closes and this process goes too, so no orphaned server outlives a killed test.
 */
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'))
process.stdin.on('error', () => process.kill(process.pid, 'SIGKILL'))
process.stdin.resume()
await import('../../src/server.js')
