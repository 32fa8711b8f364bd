/**
 * Bench-only preload (`--import`, after tsx) for issue 12's "hot path stays lean" figure: turns
 * Switchboard's hot-path metric recording into no-ops, so one bench run can compare the server
 * with its per-event instrumentation on and off, without a switch in the server itself.
 *
 * What it switches off: `LeanCounter.inc` and `LeanHistogram.observe` (src/metrics/lean.ts),
 * which is every record of the SPEC §6 socket families (events and their duration per event,
 * messages sent, handshakes, disconnects, RTT, recoveries, catch-ups). The module is the same
 * instance the server loads (one file URL under tsx's loader), so patching its prototypes here
 * reaches the server's instruments. What stays: the handler wrapper's two `performance.now()`
 * calls per event and the calls into the no-op methods (tens of nanoseconds per event), the
 * prom-client families of the slow paths (rate-limit refusals, oversized frames) and the default
 * Node metrics, which cost per scrape or per interval, not per message. The bench checks that
 * the switch took (`switchboard_socket_events_total` for message:send stays 0 in a scrape).
 */
import { LeanCounter, LeanHistogram } from '../src/metrics/lean.js'

LeanCounter.prototype.inc = function inc (): void {}
LeanHistogram.prototype.observe = function observe (): void {}
