/**
 * Preload for one spawned instance (`NODE_OPTIONS=--import=<this file>`): shifts the process's
 * wall clock by CHAOS_CLOCK_OFFSET_MS (Date, Date.now, performance.timeOrigin), as a host whose
 * clock is off would. Monotonic time (performance.now, timers) is untouched, as on such a host.
 */
const offset = Number(process.env.CHAOS_CLOCK_OFFSET_MS ?? 0)
if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date
  const realNow = RealDate.now.bind(RealDate)
  const now = () => realNow() + offset
  globalThis.Date = new Proxy(RealDate, {
    construct (target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget)
    },
    apply () {
      return new RealDate(now()).toString()
    },
    get (target, prop, receiver) {
      if (prop === 'now') return now
      return Reflect.get(target, prop, receiver)
    }
  })
  const origin = performance.timeOrigin + offset
  Object.defineProperty(performance, 'timeOrigin', { value: origin, configurable: true })
}
