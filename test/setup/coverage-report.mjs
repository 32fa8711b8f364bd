// Prints the coverage that `tap` collected in .tap/coverage (no gate: allow-incomplete-coverage).
// One repair first: on Node 20 the source maps tap records for tsx-compiled files carry
// `sourcesContent: [null]`, which v8-to-istanbul 9.3 takes as an empty original file (every file
// then shows one covered statement). Without it, the original is read from disk, as it should be.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

const dir = '.tap/coverage'
let files
try {
  files = readdirSync(dir).filter(f => f.endsWith('.json'))
} catch {
  console.log('# no coverage collected (.tap/coverage is missing)')
  process.exit(0)
}
for (const f of files) {
  const path = `${dir}/${f}`
  const data = JSON.parse(readFileSync(path, 'utf8'))
  let changed = false
  for (const entry of Object.values(data['source-map-cache'] ?? {})) {
    const content = entry?.data?.sourcesContent
    if (Array.isArray(content) && content.every(c => c === null)) {
      delete entry.data.sourcesContent
      changed = true
    }
  }
  if (changed) writeFileSync(path, JSON.stringify(data))
}
const report = spawnSync('npx', ['tap', 'report', ...process.argv.slice(2)], { stdio: 'inherit' })
process.exit(report.status ?? 1)
