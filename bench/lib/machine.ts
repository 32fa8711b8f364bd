/** What the numbers were measured on; printed with every result, since they mean little without it. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'

export interface Machine {
  nproc: number
  cpuModel: string
  memTotalBytes: number
  node: string
  kernel: string
  /** file descriptor soft limit the servers and workers inherit */
  nofile: number
  /** ephemeral port range for client sockets */
  portRange: string
}

function read (path: string): string {
  try { return readFileSync(path, 'utf8') } catch { return '' }
}

export function machineInfo (): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(read('/proc/cpuinfo'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown'
  let nofile = Number.NaN
  try {
    nofile = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim())
  } catch {}
  return {
    nproc: os.availableParallelism(),
    cpuModel: model.trim(),
    memTotalBytes: os.totalmem(),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    nofile,
    portRange: read('/proc/sys/net/ipv4/ip_local_port_range').trim().replace(/\s+/, '–')
  }
}

export function describeMachine (m: Machine): string {
  const gib = (m.memTotalBytes / 2 ** 30).toFixed(1)
  return `${m.nproc} CPU (${m.cpuModel}), ${gib} GiB RAM, Node ${m.node}, ${m.kernel}, ulimit -n ${m.nofile}`
}
