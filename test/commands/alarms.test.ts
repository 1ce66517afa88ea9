// alarm.list and alarm.ack over a real SQLite store (as the CLI runs them): how each alarm type ends,
// repeats, acknowledgements, the 7-day window, the 200 cap, and the indexed query under them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alarm } from '../../hub/alarms.js';
import { ALL_COMMANDS, Commands } from '../../hub/commands/index.js';
import type { HubEvent } from '../../hub/domain.js';
import { silentLogger } from '../../hub/logger.js';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from '../store/helpers.js';
import { ADMIN, refusal, STAFF } from './helpers.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

let temp: TempHub;
let store: Store;
let commands: Commands;

function raise(
  type: string,
  doorId: string | null,
  agoMs: number,
  data: Record<string, unknown> = {},
): HubEvent {
  return store.events.appendDurable({
    type,
    doorId,
    personId: null,
    credentialId: null,
    data,
    ts: Date.now() - agoMs,
  });
}

async function list(input: Record<string, unknown> = {}): Promise<Alarm[]> {
  return ((await commands.execute('alarm.list', input, STAFF)) as { alarms: Alarm[] }).alarms;
}

async function ack(seq: number, note?: string, caller = STAFF): Promise<Alarm> {
  const input = note === undefined ? { seq } : { seq, note };
  return ((await commands.execute('alarm.ack', input, caller)) as { alarm: Alarm }).alarm;
}

beforeEach(() => {
  temp = tempHub();
  store = temp.open().store;
  commands = new Commands(ALL_COMMANDS, { store, logger: silentLogger() });
  for (const id of ['front', 'side', 'garage']) store.doors.add({ id, name: id, transport: 'sim' });
});

afterEach(async () => {
  await temp.cleanup();
});

describe('alarm.list', () => {
  it('ends each alarm type by its own rule', async () => {
    const forced = raise('alarm.forced_open', 'front', 10 * MIN, { mode: 'normal' });
    const forcedEnd = raise('alarm.forced_open_cleared', 'front', 9 * MIN, { openMs: 60_000 });
    const held = raise('alarm.held_open', 'side', 8 * MIN);
    raise('alarm.held_open', 'side', 7 * MIN);
    const heldRepeat = raise('alarm.held_open', 'side', 6 * MIN);
    const readerA = raise('alarm.reader_offline', 'garage', 5 * MIN, { reader: 'a' });
    const readerB = raise('alarm.reader_offline', 'garage', 5 * MIN, { reader: 'b' });
    raise('alarm.reader_offline_cleared', 'garage', 4 * MIN, { reader: 'a' });
    const lockedPast = raise('alarm.keypad_locked_out', 'front', 4 * MIN, { until: Date.now() - MIN });
    const lockedNow = raise('alarm.keypad_locked_out', 'front', MIN, { until: Date.now() + 10 * MIN });
    const disk = raise('alarm.disk_full', null, 3 * MIN, { code: 'ENOSPC' });
    raise('storage.disk_ok', null, 2 * MIN);
    const disabled = raise('alarm.keypad_disabled', 'front', 3 * MIN, { reader: 'kp', failures: 100 });
    raise('admin.keypad.enabled', 'front', 2 * MIN, { reader: 'kp', actor: 'user:sam' });
    const risk = raise('alarm.guess_risk', 'front', 2 * MIN, { perDay: 0.01 });
    const jump = raise('alarm.clock_jump', null, MIN, { backwardMs: 120_000 });
    const old = raise('alarm.tamper', 'front', 8 * DAY);

    const alarms = await list();
    const bySeq = new Map(alarms.map((a) => [a.seq, a]));
    expect(alarms.map((a) => a.seq)).toEqual([...alarms.map((a) => a.seq)].sort((a, b) => b - a));
    expect(bySeq.get(forced.seq)).toEqual({
      seq: forced.seq,
      ts: forced.ts,
      type: 'alarm.forced_open',
      doorId: 'front',
      data: { mode: 'normal' },
      active: false,
      clearedAt: forcedEnd.ts,
      acknowledged: null,
    });
    // Three raises of a held-open door are one alarm, under the first seq.
    expect(alarms.filter((a) => a.type === 'alarm.held_open').map((a) => a.seq)).toEqual([held.seq]);
    expect(bySeq.get(held.seq)?.active).toBe(true);
    expect(bySeq.get(readerA.seq)?.active).toBe(false);
    expect(bySeq.get(readerB.seq)?.active).toBe(true);
    expect(bySeq.get(lockedPast.seq)).toMatchObject({ active: false, clearedAt: lockedPast.data.until });
    expect(bySeq.get(lockedNow.seq)).toMatchObject({ active: true, clearedAt: null });
    expect(bySeq.get(disk.seq)).toMatchObject({ doorId: null, active: false });
    expect(bySeq.get(disabled.seq)?.active).toBe(false);
    expect(bySeq.get(risk.seq)?.active).toBe(true);
    expect(bySeq.get(jump.seq)?.active).toBe(true);
    expect(bySeq.has(old.seq)).toBe(false); // older than 7 days

    // Acknowledged: the ones nothing else ends are dealt with; a door still open is still active.
    expect((await ack(risk.seq)).active).toBe(false);
    expect((await ack(jump.seq, 'NTP is back')).active).toBe(false);
    const heldAck = await ack(heldRepeat.seq, 'propped open for a move', ADMIN);
    expect(heldAck).toMatchObject({
      seq: held.seq,
      active: true,
      acknowledged: { by: 'cli:root', note: 'propped open for a move' },
    });
    const acked = store.events.list({ type: 'admin.alarm.acknowledged' });
    expect(acked[0]).toMatchObject({
      doorId: 'side',
      data: { seq: held.seq, type: 'alarm.held_open', note: 'propped open for a move', actor: 'cli:root' },
    });
    expect(acked[1]!.doorId).toBeNull(); // the clock is hub-wide

    const shown = new Set((await list()).map((a) => a.seq));
    expect(shown.has(risk.seq)).toBe(false); // ended and acknowledged
    expect(shown.has(held.seq)).toBe(true); // acknowledged but active
    expect(shown.has(forced.seq)).toBe(true); // ended but not acknowledged
    expect((await list({ includeCleared: true })).some((a) => a.seq === risk.seq)).toBe(true);
    expect((await list({ doorId: 'garage' })).map((a) => a.seq).sort()).toEqual(
      [readerA.seq, readerB.seq].sort(),
    );
  });

  it('shows at most 200, the newest', async () => {
    const seqs: number[] = [];
    for (let i = 0; i < 250; i++) seqs.push(raise('alarm.guess_risk', 'front', 250 - i).seq);
    const alarms = await list();
    expect(alarms).toHaveLength(200);
    expect(alarms[0]!.seq).toBe(seqs[249]);
    expect(alarms[199]!.seq).toBe(seqs[50]);
  });

  it('acknowledges once: a second acknowledgement answers the first and writes nothing', async () => {
    const tamper = raise('alarm.tamper', 'front', MIN);
    const first = await ack(tamper.seq, 'installer at work');
    const second = await ack(tamper.seq, 'something else', ADMIN);
    expect(second.acknowledged).toEqual(first.acknowledged);
    expect(store.events.list({ type: 'admin.alarm.acknowledged' })).toHaveLength(1);
    // An old alarm (beyond the list's window) can still be acknowledged.
    const old = raise('alarm.tamper', 'side', 30 * DAY);
    expect((await ack(old.seq)).acknowledged?.by).toBe('user:sam');
  });

  it('refuses a seq that raised no alarm', async () => {
    const cleared = raise('alarm.tamper_cleared', 'front', MIN);
    const ok = raise('storage.disk_ok', null, MIN);
    const door = store.events.list({ type: 'admin.door' })[0]!;
    for (const seq of [cleared.seq, ok.seq, door.seq, 10_000]) {
      expect(await refusal(commands.execute('alarm.ack', { seq }, STAFF))).toEqual({
        code: 'not_found',
        message: `no alarm with seq ${seq}`,
      });
    }
    expect((await refusal(commands.execute('alarm.ack', { seq: '1' }, STAFF))).code).toBe('invalid');
    expect((await refusal(commands.execute('alarm.ack', { seq: 1.5 }, STAFF))).code).toBe('invalid');
  });
});

describe('EventLog.alarmLog', () => {
  it('reads alarm.* and the named types in the window, oldest first, the newest when over the limit', () => {
    raise('alarm.tamper', 'front', 10 * DAY);
    const inWindow = [
      raise('alarm.tamper', 'front', 5 * MIN),
      raise('storage.disk_ok', null, 4 * MIN),
      raise('alarm.forced_open', 'side', 3 * MIN),
      raise('alarm.tamper_cleared', 'front', 2 * MIN),
    ];
    raise('door.opened', 'front', MIN);
    const sinceTs = Date.now() - DAY;
    const all = store.events.alarmLog({ sinceTs, alsoTypes: ['storage.disk_ok'] });
    expect(all.map((e) => e.seq)).toEqual(inWindow.map((e) => e.seq));
    expect(
      store.events.alarmLog({ sinceTs, alsoTypes: ['storage.disk_ok'], limit: 2 }).map((e) => e.seq),
    ).toEqual(inWindow.slice(2).map((e) => e.seq));
    expect(store.events.alarmLog({ sinceTs, alsoTypes: [], doorId: 'front' }).map((e) => e.type)).toEqual([
      'alarm.tamper',
      'alarm.tamper_cleared',
    ]);
    expect(store.events.alarmLog({ sinceTs: Date.now() + DAY, alsoTypes: [] })).toEqual([]);
  });
});
