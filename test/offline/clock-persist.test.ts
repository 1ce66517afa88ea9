// The trusted clock's high-water mark on the real database: saved every 10 minutes and at stop
// (docs/trusted-time.md), so a clean restart keeps it exactly and a kill -9 loses at most one period.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONFIRMATION_SAVE_EVERY_MS,
  DEFAULT_PERSIST_EVERY_MS,
  TrustedClock,
} from '../../hub/offline/clock.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { fakeTime, T0 } from './clock-time.js';
import { type TempData, tempData } from './helpers.js';

const HWM_KEY = 'offline.clock.hwm';

describe('the clock high-water mark on disk', () => {
  let data: TempData;
  beforeEach(() => {
    data = tempData();
  });
  afterEach(() => data.cleanup());

  const clockOn = (opened: OpenedStore, time: ReturnType<typeof fakeTime>) =>
    new TrustedClock({
      kv: opened.store.kv,
      emitEvent: (e) => opened.store.events.append(e),
      systemNow: time.systemNow,
      monotonicNow: time.monotonicNow,
      policy: { rtc: true },
    });

  it('is saved every 10 minutes, not every minute', () => {
    expect(DEFAULT_PERSIST_EVERY_MS).toBe(600_000);
  });

  it('survives a clean restart exactly, and a boot behind it is refused', async () => {
    const opened = data.open();
    const time = fakeTime();
    const clock = clockOn(opened, time);
    await clock.start();
    time.advance(3 * 60_000 + 123); // less than one save period: only stop() saves it
    const seen = clock.now().ms;
    await clock.stop();
    expect(Number(opened.store.kv.get(HWM_KEY))).toBe(seen);
    opened.close();

    const reopened = data.open();
    const boot = fakeTime();
    boot.t.system = seen - 5 * 60_000; // the Pi came back 5 minutes behind
    const again = clockOn(reopened, boot);
    await again.start();
    expect(again.now()).toMatchObject({ ms: seen, trusted: false, reason: 'clock_jump' });
    await again.stop();
  });

  it('saves NTP confirmations once an hour and at stop, not every 5 minutes', async () => {
    const opened = data.open();
    const time = fakeTime();
    const writes: string[] = [];
    const kv = {
      get: (key: string) => opened.store.kv.get(key),
      set: (key: string, value: string) => {
        writes.push(key);
        opened.store.kv.set(key, value);
      },
    };
    const clock = new TrustedClock({
      kv,
      emitEvent: (e) => opened.store.events.append(e),
      systemNow: time.systemNow,
      monotonicNow: time.monotonicNow,
    });
    await clock.start();
    for (let i = 0; i < 24; i++) {
      clock.confirm('ntp'); // the 5-minute NTP probe, for two hours
      time.advance(5 * 60_000);
    }
    const saved = writes.filter((k) => k === 'offline.clock.confirmed').length;
    expect(saved).toBe(2); // the first, and one an hour later
    const saved2 = JSON.parse(opened.store.kv.get('offline.clock.confirmed')!) as { at: number };
    expect(clock.status().lastConfirmedAt! - saved2.at).toBeLessThanOrEqual(CONFIRMATION_SAVE_EVERY_MS);
    // A different source is saved at once; a stop saves the newest.
    clock.confirm('cloud');
    expect(writes.filter((k) => k === 'offline.clock.confirmed').length).toBe(3);
    time.advance(60_000);
    clock.confirm('cloud');
    await clock.stop();
    const last = JSON.parse(opened.store.kv.get('offline.clock.confirmed')!) as { at: number; by: string };
    expect(last).toEqual({ at: clock.status().lastConfirmedAt, by: 'cloud' });
  });

  it('a kill -9 loses at most one save period', async () => {
    // 600× faster: the 10-minute period is one real second.
    const scale = 600;
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    data.open().close(); // create the database before the child starts
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'test/offline/clock-kill-child.ts'),
        data.dataDir,
        String(T0),
        String(scale),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let lastSeen = 0;
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line) lastSeen = Math.max(lastSeen, Number(line));
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Run for several periods (30 min of the child's time at least), then kill it without warning.
    const deadline = Date.now() + 60_000;
    while (lastSeen < T0 + 3.5 * DEFAULT_PERSIST_EVERY_MS && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await exited;
    expect(lastSeen).toBeGreaterThan(T0 + 3 * DEFAULT_PERSIST_EVERY_MS);

    const opened = data.open();
    const stored = Number(opened.store.kv.get(HWM_KEY) ?? '0');
    // Saved while running (not only at a stop that never came) ...
    expect(stored).toBeGreaterThanOrEqual(T0 + DEFAULT_PERSIST_EVERY_MS);
    expect(stored).toBeLessThanOrEqual(lastSeen + 60_000);
    // ... and recently: one period, plus one more for a timer late on a loaded machine.
    expect(lastSeen - stored).toBeLessThanOrEqual(2 * DEFAULT_PERSIST_EVERY_MS);

    // Booting 11 minutes behind the stored mark is refused: the documented window holds.
    const boot = fakeTime();
    boot.t.system = stored - 11 * 60_000;
    const clock = clockOn(opened, boot);
    await clock.start();
    expect(clock.now()).toMatchObject({ ms: stored, trusted: false, reason: 'clock_jump' });
    await clock.stop();
  });
});
