/**
 * deploy/ cannot run here (no Docker engine), so it is validated by parsing: the manifests are
 * valid YAML that point at routes and paths that exist, the drain fits the grace periods, and
 * .env.example lists exactly the variables the config schema reads.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, parse } from 'yaml'
import { ConfigSchema } from '../../src/config.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const read = (p: string): string => readFileSync(root + p, 'utf8')

t.test('.env.example lists every variable of the config schema, and only those', async (t) => {
  const listed = read('.env.example').split('\n').filter(l => /^[A-Z_0-9]+=/.test(l)).map(l => l.split('=')[0]).sort()
  t.same(listed, Object.keys(ConfigSchema.properties).sort())
})

t.test('k8s manifest', async (t) => {
  const docs = parseAllDocuments(read('deploy/k8s/switchboard.yaml')).map(d => d.toJS())
  const deploy = docs.find(d => d.kind === 'Deployment')
  const container = deploy.spec.template.spec.containers[0]
  t.equal(container.readinessProbe.httpGet.path, '/health/ready')
  t.equal(container.livenessProbe.httpGet.path, '/health/live')
  const grace = Number(container.env.find((e: { name: string }) => e.name === 'SHUTDOWN_GRACE_MS').value)
  t.ok(deploy.spec.template.spec.terminationGracePeriodSeconds * 1000 > grace, 'pods get longer than the drain before SIGKILL')
  const names = container.env.map((e: { name: string }) => e.name)
  for (const n of names) t.ok(n in ConfigSchema.properties, `${n} is a real variable`)
  t.ok(docs.some(d => d.kind === 'Service' && d.spec.sessionAffinity === 'ClientIP'), 'sticky sessions for long-polling')
})

t.test('compose file', async (t) => {
  const compose = parse(read('deploy/docker-compose.yml'), { merge: true })
  t.ok(compose.services.redis && compose.services.nginx)
  for (const name of ['switchboard-1', 'switchboard-2']) {
    const svc = compose.services[name]
    t.equal(svc.build.dockerfile, 'deploy/Dockerfile')
    t.match(svc.environment.REDIS_URL, /^redis:\/\//)
    t.ok(parseInt(svc.stop_grace_period) * 1000 > Number(svc.environment.SHUTDOWN_GRACE_MS), `${name}: stop grace longer than the drain`)
    for (const k of Object.keys(svc.environment)) t.ok(k in ConfigSchema.properties, `${name}: ${k} is a real variable`)
  }
})

t.test('Dockerfile runs the built entry point and nginx proxies upgrades', async (t) => {
  const docker = read('deploy/Dockerfile')
  const build = JSON.parse(read('tsconfig.json')).compilerOptions.outDir
  t.match(docker, new RegExp(`CMD \\["node", "${build}/src/server\\.js"\\]`), 'CMD matches tsc outDir and the server entry')
  t.match(docker, /npm ci/)
  const nginx = read('deploy/nginx.conf')
  t.equal((nginx.match(/{/g) ?? []).length, (nginx.match(/}/g) ?? []).length, 'balanced braces')
  t.match(nginx, /proxy_set_header Upgrade \$http_upgrade/)
  t.match(nginx, /ip_hash/, 'sticky for long-polling')
  t.match(JSON.parse(read('package.json')).scripts.start, /dist\/src\/server\.js/)
})
