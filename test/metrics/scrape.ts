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
