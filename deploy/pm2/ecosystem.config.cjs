/**
 * PM2 on one box: one Switchboard worker per core in cluster mode, on one Redis.
 *
 *   npm ci && npm run build
 *   REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=... npx pm2 start deploy/pm2/ecosystem.config.cjs
 *   npx pm2 reload switchboard      # zero-downtime: workers are replaced and drained one by one
 *
 * Transports: WebSocket only. PM2's cluster mode is Node's cluster module, whose master hands
 * each new TCP connection to the next worker (round-robin). A WebSocket session is one TCP
 * connection, so it stays on one worker; HTTP long-polling is a series of requests that would be
 * spread over the workers ("Session ID unknown"). Socket.IO's answer for PM2 is its fork
 * @socket.io/pm2 plus @socket.io/sticky in the app, which routes by session id in the master;
 * that fork lags PM2 by a major version and makes the master parse every HTTP request. Clients
 * that need long-polling (proxies that block WebSocket) go through the nginx deployment
 * instead (deploy/nginx.conf, sticky by client address). See README "Deploy".
 *
 * The rest of the environment (REDIS_URL, JWT_SECRET, CORS_ORIGINS, ... every variable of
 * .env.example) is inherited from the shell that runs `pm2 start`. INSTANCE_ID is left unset
 * on purpose: each worker needs its own (the default, <hostname>-<pid>-<start>, is).
 */
const path = require('node:path')

module.exports = {
  apps: [{
    name: 'switchboard',
    cwd: path.join(__dirname, '..', '..'),
    script: 'dist/src/server.js',
    exec_mode: 'cluster',
    instances: 0, // one worker per CPU core (PM2's "max")
    // PM2 stops a worker with SIGINT, which drains like SIGTERM (SPEC §8); it sends SIGKILL
    // after kill_timeout, so that must exceed SHUTDOWN_GRACE_MS
    kill_timeout: 15000,
    // a reload waits for the new worker to listen before it stops the old one
    listen_timeout: 10000,
    min_uptime: '10s',
    max_restarts: 10,
    exp_backoff_restart_delay: 200,
    merge_logs: true,
    time: true,
    env: {
      // PORT (default 3000) and SHUTDOWN_GRACE_MS (default 10000) come from the shell
      NODE_ENV: 'production',
      TRANSPORTS: 'websocket'
      // TRUST_PROXY: unset when clients connect directly; '1' behind one proxy on this box
    }
  }]
}
