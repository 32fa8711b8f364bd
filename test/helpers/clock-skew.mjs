/**
 * Preload for one spawned server (`NODE_OPTIONS=--import=<this file>`, see `skewedClock` in
 * proc.ts): shifts the process's wall clock by TEST_CLOCK_OFFSET_MS (Date, Date.now,
 * performance.timeOrigin), as a host whose clock is off would. Monotonic time (performance.now,
 * timers) is untouched, as on such a host. (The chaos suite's S8 uses it too.)
 */
const offset = Number(process.env.TEST_CLOCK_OFFSET_MS ?? 0)
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
  Object.defineProperty(performance, 'timeOrigin', { value: performance.timeOrigin + offset, configurable: true })
}
