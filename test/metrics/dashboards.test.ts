/**
 * deploy/grafana/switchboard.json and deploy/prometheus/alerts.yml (issue 12): both parse, the
 * dashboard has the panels operators need, and every metric name in every expression is a
 * family of a real scrape. `promtool check rules` runs when Prometheus' promtool is installed.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { parse } from 'yaml'
import { startApp } from '../helpers/app.js'
import { scrape } from './scrape.js'

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/switchboard.json', import.meta.url), 'utf8'))
const rulesPath = new URL('../../deploy/prometheus/alerts.yml', import.meta.url)
const rules = parse(readFileSync(rulesPath, 'utf8'))

const names = (expr: string): string[] => [...expr.matchAll(/\b((?:switchboard|http_request)_[a-z_]+)\b/g)].map(m => m[1])

t.test('every metric in the dashboard and the rules exists in a real scrape', async (t) => {
  const { url } = await startApp(t)
  const text = await scrape(url)
  const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map(m => m[1]))
  const exprs: string[] = [
    ...dashboard.panels.flatMap((p: { targets: Array<{ expr: string }> }) => p.targets.map(x => x.expr)),
    ...rules.groups.flatMap((g: { rules: Array<{ expr: string }> }) => g.rules.map(r => r.expr))
  ]
  t.ok(exprs.length >= 19)
  for (const expr of exprs) {
    const used = names(expr)
    t.ok(used.length > 0, `names a family: ${expr.slice(0, 60)}`)
    for (const n of used) t.ok(families.has(n.replace(/_(bucket|sum|count)$/, '')), `${n} is scraped`)
  }
})

t.test('the dashboard has the panels of issue 12', async (t) => {
  t.equal(dashboard.uid, 'switchboard')
  t.type(dashboard.schemaVersion, 'number')
  const titles = dashboard.panels.map((p: { title: string }) => p.title)
  for (const want of ['Connections by transport', 'Handshake refusals by code', 'Event rate by event', 'Event p99 by event', 'Socket RTT p50 / p99', 'Disconnect reasons', 'Recoveries and catch-ups (recovered=false)', 'Rate-limit refusals by kind', 'Online users', 'Redis up', 'Draining', 'HTTP p99 by route']) {
    t.ok(titles.includes(want), want)
  }
  for (const p of dashboard.panels) {
    t.ok(Number.isInteger(p.id) && typeof p.type === 'string' && p.gridPos !== undefined && p.targets.length > 0, `panel ${p.title} is complete`)
  }
})

t.test('the rules: each has alert, expr, labels.severity, annotations.summary; promtool when present', async (t) => {
  for (const r of rules.groups.flatMap((g: { rules: unknown[] }) => g.rules)) {
    t.match(r, { alert: /^Switchboard/, expr: String, labels: { severity: /^(warning|critical)$/ }, annotations: { summary: String } })
  }
  const promtool = spawnSync('promtool', ['check', 'rules', rulesPath.pathname], { encoding: 'utf8' })
  if (promtool.error !== undefined) {
    t.comment('promtool not installed: rules checked by parsing only')
  } else {
    t.equal(promtool.status, 0, promtool.stdout + promtool.stderr)
  }
})
