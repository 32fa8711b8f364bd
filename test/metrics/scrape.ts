/** Reads /metrics (Prometheus text) and picks values out of it, for the limits and metrics tests. */
import { http } from '../helpers/app.js'

export async function scrape (url: string, token?: string): Promise<string> {
  const r = await http(`${url}/metrics`, token !== undefined ? { token } : {})
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
  return String(r.body)
}

/** The value of one sample (`name` or `name{labels}` exactly as printed), or undefined. */
export function sample (text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    if (line.slice(0, i) === series) return Number(line.slice(i + 1))
  }
  return undefined
}

export async function metric (url: string, series: string): Promise<number | undefined> {
  return sample(await scrape(url), series)
}

/** The sum of every series of a family (`name` and `name{...}`; not the _bucket/_sum/_count of a histogram). */
export function total (text: string, name: string): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    const series = line.slice(0, i)
    if (series === name || series.startsWith(`${name}{`)) sum += Number(line.slice(i + 1))
  }
  return sum
}

export async function metricTotal (url: string, name: string): Promise<number> {
  return total(await scrape(url), name)
}
