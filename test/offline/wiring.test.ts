import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueCode } from '../../hub/offline/codes.js';
import { resolveOfflineConfig } from '../../hub/offline/config.js';
import { createOffline } from '../../hub/offline/index.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { seedBuilding, type TempData, tempData, ZONE } from './helpers.js';

const NOON = Date.parse('2026-11-27T11:00:00Z');

describe('createOffline (the parts hub/app.ts wires)', () => {
  let data: TempData;
  let opened: OpenedStore;
  beforeEach(() => {
    data = tempData();
    opened = data.open();
    seedBuilding(opened);
  });
  afterEach(() => data.cleanup());

  const build = (offline: Record<string, unknown>, systemNow: () => number) =>
    createOffline({
      store: opened.store,
      dataDir: data.dataDir,
      timeZone: ZONE,
      config: resolveOfflineConfig({ ...offline, clock: { ntpCheck: false, ...(offline.clock as object) } }),
      keypadPolicy: {},
      systemNow,
    });

  it('refuses timed codes until the clock is confirmed, then accepts them', async () => {
    let system = NOON;
    const parts = build({}, () => system);
    await parts.clock.start();
    const code = issueCode(
      parts.secret.bytes(),
      { type: 'daily', date: '2026-11-27', index: 2, scope: 'site' },
      ZONE,
    );
    expect(parts.codes.verify('front', code.digits)).toMatchObject({
      granted: false,
      detail: 'time_untrusted',
    });

    expect(parts.clock.confirm('cloud', NOON + 1_000)).toBe(true);
    expect(parts.codes.verify('front', code.digits)).toMatchObject({ granted: true, serial: code.serial });

    // The clock is set back a day: the hub refuses to follow, raises the alarm, and stops trusting time.
    system = NOON - 86_400_000;
    expect(parts.clock.now()).toMatchObject({ trusted: false, reason: 'clock_jump' });
    const yesterday = issueCode(
      parts.secret.bytes(),
      { type: 'daily', date: '2026-11-26', index: 2, scope: 'site' },
      ZONE,
    );
    expect(parts.codes.verify('front', yesterday.digits)).toBeNull();
    expect(parts.codes.verify('front', code.digits)).toMatchObject({
      granted: false,
      detail: 'time_untrusted',
    });
    opened.store.events.flush();
    expect(opened.store.events.list({ type: 'alarm.clock_jump' })).toHaveLength(1);
    await parts.clock.stop();
  });

  it('with an RTC declared, trusts the clock without NTP; the secret file persists across restarts', async () => {
    const parts = build({ clock: { rtc: true } }, () => NOON);
    await parts.clock.start();
    const code = issueCode(
      parts.secret.bytes(),
      { type: 'daily', date: '2026-11-27', index: 5, scope: 'door:front' },
      ZONE,
    );
    expect(parts.codes.verify('front', code.digits)?.granted).toBe(true);
    await parts.clock.stop();
    const again = build({ clock: { rtc: true } }, () => NOON);
    expect(again.secret.exportHex()).toBe(parts.secret.exportHex());
    expect(again.secret.exportHex()).toMatch(/^[0-9a-f]{64}$/);
  });
});
