// Commands that need the running hub besides unlock: keypad.enable after the daily failure cap, and
// clock.accept after a refused clock jump. A real hub with a simulated keypad and a settable clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/app.js';
import { removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { eventually } from '../store/helpers.js';
import { ADMIN, expectOnlyRoles, lastEvent, refusal, STAFF, storeBench } from './helpers.js';

let dir: string;
let hub: Hub;
let now = Date.now();
const run = (name: string, input: unknown, caller = STAFF) =>
  hub.commands.execute(name, input, caller) as Promise<Record<string, unknown>>;

beforeAll(async () => {
  dir = tempDataDir();
  hub = new Hub({
    config: testConfig(dir, {
      simulation: { door: 'front' },
      offline: { keypadDailyFailureCap: 3 },
      keypad: { maxFailures: 20 },
    }),
    now: () => now,
  });
  await hub.start();
});

afterAll(async () => {
  await hub.stop();
  removeDir(dir);
});

describe('keypad.enable', () => {
  it('re-enables a keypad the daily cap disabled, naming who did it', async () => {
    for (let i = 0; i < 3; i++) {
      hub.bus.emit('presented', {
        doorId: 'front',
        kind: 'keypad',
        value: `99887${i}`,
        readerId: 'front.keypad',
      });
    }
    const keypads = async () =>
      ((await run('keypad.list', {})).keypads as Array<{ keypad: string }>).map((k) => k.keypad);
    await eventually(() =>
      hub.store.events.list({ type: 'alarm.keypad_disabled' }).length > 0 ? true : undefined,
    );
    expect(await keypads()).toEqual(['front/front.keypad']);
    expect(await run('keypad.enable', { doorId: 'front', readerId: 'front.keypad' })).toEqual({
      enabled: true,
    });
    expect(lastEvent(hub.store, 'admin.keypad.enabled').data).toEqual({
      reader: 'front.keypad',
      actor: 'user:sam',
    });
    expect(await keypads()).toEqual([]);
    expect(await run('keypad.enable', { doorId: 'front', readerId: 'front.keypad' })).toEqual({
      enabled: false,
    });
  });

  it('works with the hub stopped (the cap lives in the store) and takes MQTT reader ids', async () => {
    const bench = storeBench();
    try {
      await bench.run('door.add', { id: 'lobby', transport: 'mqtt' });
      expect(
        await bench.run('keypad.enable', { doorId: 'lobby', readerId: 'device:lobby-controller' }),
      ).toEqual({ enabled: false });
      expect((await refusal(bench.run('keypad.enable', { doorId: 'lobby', readerId: 'x\n' }))).code).toBe(
        'invalid',
      );
    } finally {
      await bench.cleanup();
    }
  });
});

describe('clock.accept', () => {
  it('accepts the system time after a refused backward jump; admin only', async () => {
    now -= 10 * 60_000;
    expect(hub.status().clock).toMatchObject({ trusted: false, reason: 'clock_jump' });
    await expectOnlyRoles(hub.commands, 'clock.accept', {}, ['admin']);
    const accepted = await run('clock.accept', {}, ADMIN);
    expect(accepted.clock).toMatchObject({ ms: now });
    expect((accepted.clock as { reason?: string }).reason).not.toBe('clock_jump');
    expect(lastEvent(hub.store, 'admin.clock.accepted').data).toMatchObject({ actor: 'cli:root', to: now });
  });
});
