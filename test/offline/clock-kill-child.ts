// Run as a separate process by clock-persist.test.ts: a hub's trusted clock on the real database, its
// system time running `scale` times faster than real time, printing the time it has seen until killed.
import { DEFAULT_PERSIST_EVERY_MS, TrustedClock } from '../../hub/offline/clock.js';
import { openHubStore } from '../../hub/open-store.js';

const [dataDir, startText, scaleText] = process.argv.slice(2);
const start = Number(startText);
const scale = Number(scaleText);
const began = performance.now();
const opened = openHubStore(dataDir!);
const clock = new TrustedClock({
  kv: opened.store.kv,
  emitEvent: (e) => opened.store.events.append(e),
  systemNow: () => start + Math.round((performance.now() - began) * scale),
  monotonicNow: () => performance.now() * scale,
  policy: { rtc: true },
  // The hub's period, in this process's faster time.
  persistEveryMs: DEFAULT_PERSIST_EVERY_MS / scale,
});
await clock.start();
setInterval(() => process.stdout.write(`${clock.now().ms}\n`), 20);
