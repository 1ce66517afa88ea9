// One rules kernel (docs/access-rules.md): the hub's decision service and a door's synced copy
// (hub/doorsync/copy.ts, what a door controller decides from when the hub is unreachable) give the
// same answer to the same presentation. Real store files, the real DoorSync signing the snapshots a
// door would receive, and the real DoorCopy verifying and applying them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeypadLockout } from '../../hub/access/index.js';
import { EventBus, type Presentation } from '../../hub/bus.js';
import { DecisionService } from '../../hub/decisions.js';
import type { Reason } from '../../hub/domain.js';
import { DoorCopy } from '../../hub/doorsync/copy.js';
import { DoorSync } from '../../hub/doorsync/service.js';
import { silentLogger } from '../../hub/logger.js';
import { IssuerKey } from '../../hub/mobile/issuer.js';
import { type OpenedStore, openHubStore } from '../../hub/open-store.js';

const ZONE = 'Europe/Berlin';
/** Friday 27 November 2026, 09:00 in Berlin: the copies are synced at this moment. */
const SYNC_AT = Date.parse('2026-11-27T08:00:00Z');
const at = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;

/** What a door's copy cannot know: revoked and suspended credentials and people without a group for
 * the door are left out of it (deny by absence), so the door says `unknown_credential` where the hub
 * names the reason. Everything else must be the same reason. */
const ABSENT_FROM_COPY: ReadonlySet<Reason> = new Set(['revoked', 'suspended', 'no_access']);

interface Row {
  what: string;
  door: string;
  kind: 'card' | 'keypad';
  value: string;
  when: number;
  /** The hub's answer; the copy must agree (see ABSENT_FROM_COPY). */
  expect: Reason;
  /**
   * The copy's answer where it cannot name the hub's reason: a person's access window is folded into
   * each credential's validity in the copy, so the door says not_yet_valid / expired for it.
   */
  copy?: Reason;
}

const ROWS: Row[] = [
  {
    what: 'card, no schedule',
    door: 'front',
    kind: 'card',
    value: '04A22B1C',
    when: SYNC_AT,
    expect: 'granted',
  },
  {
    what: 'card written with separators, lowercase',
    door: 'front',
    kind: 'card',
    value: '04:a2:2b:1c',
    when: SYNC_AT,
    expect: 'granted',
  },
  {
    what: 'card written with spaces',
    door: 'front',
    kind: 'card',
    value: '04 A2 2B 1C',
    when: SYNC_AT,
    expect: 'granted',
  },
  { what: 'PIN', door: 'front', kind: 'keypad', value: '246813', when: SYNC_AT, expect: 'granted' },
  {
    what: 'unknown card',
    door: 'front',
    kind: 'card',
    value: '0000BEEF',
    when: SYNC_AT,
    expect: 'unknown_credential',
  },
  {
    what: 'unknown PIN',
    door: 'front',
    kind: 'keypad',
    value: '11223344',
    when: SYNC_AT,
    expect: 'unknown_credential',
  },
  {
    what: 'card value that is not hex',
    door: 'front',
    kind: 'card',
    value: 'XYZ123',
    when: SYNC_AT,
    expect: 'invalid_request',
  },
  {
    what: 'card value of one hex digit',
    door: 'front',
    kind: 'card',
    value: 'A',
    when: SYNC_AT,
    expect: 'invalid_request',
  },
  {
    what: 'PIN too short',
    door: 'front',
    kind: 'keypad',
    value: '123',
    when: SYNC_AT,
    expect: 'invalid_request',
  },
  {
    what: 'PIN too long',
    door: 'front',
    kind: 'keypad',
    value: '1234567890123',
    when: SYNC_AT,
    expect: 'invalid_request',
  },
  {
    what: 'PIN with a letter',
    door: 'front',
    kind: 'keypad',
    value: '12a456',
    when: SYNC_AT,
    expect: 'invalid_request',
  },
  { what: 'revoked card', door: 'front', kind: 'card', value: 'DD01', when: SYNC_AT, expect: 'revoked' },
  {
    what: 'suspended person',
    door: 'front',
    kind: 'card',
    value: 'CC01',
    when: SYNC_AT,
    expect: 'suspended',
  },
  {
    what: 'suspended person, PIN',
    door: 'front',
    kind: 'keypad',
    value: '55667788',
    when: SYNC_AT,
    expect: 'suspended',
  },
  {
    what: 'person in no group for this door',
    door: 'front',
    kind: 'card',
    value: 'AA01',
    when: SYNC_AT,
    expect: 'no_access',
  },
  {
    what: 'before the validity window',
    door: 'front',
    kind: 'card',
    value: 'EE01',
    when: SYNC_AT,
    expect: 'not_yet_valid',
  },
  {
    what: 'at the start of the validity window',
    door: 'front',
    kind: 'card',
    value: 'EE01',
    when: SYNC_AT + 24 * HOUR,
    expect: 'granted',
  },
  {
    what: 'just before the end of the validity window',
    door: 'front',
    kind: 'card',
    value: 'FF01',
    when: SYNC_AT + 2 * HOUR - 1,
    expect: 'granted',
  },
  {
    what: 'at the end of the validity window',
    door: 'front',
    kind: 'card',
    value: 'FF01',
    when: SYNC_AT + 2 * HOUR,
    expect: 'expired',
  },
  {
    what: 'within the schedule (Friday 09:00)',
    door: 'front',
    kind: 'card',
    value: 'BB01',
    when: SYNC_AT,
    expect: 'granted',
  },
  {
    what: 'outside the schedule (Friday 20:00)',
    door: 'front',
    kind: 'card',
    value: 'BB01',
    when: at('2026-11-27T19:00:00Z'),
    expect: 'outside_schedule',
  },
  {
    what: 'outside the schedule (Sunday 09:00)',
    door: 'front',
    kind: 'card',
    value: 'BB01',
    when: at('2026-11-29T08:00:00Z'),
    expect: 'outside_schedule',
  },
  {
    what: 'PIN outside the schedule',
    door: 'front',
    kind: 'keypad',
    value: '13572468',
    when: at('2026-11-27T19:00:00Z'),
    expect: 'outside_schedule',
  },
  {
    what: 'holiday on a weekday: the weekday interval does not apply',
    door: 'front',
    kind: 'card',
    value: 'BB01',
    when: at('2026-12-25T08:00:00Z'),
    expect: 'outside_schedule',
  },
  {
    what: 'holiday: the hol interval applies',
    door: 'front',
    kind: 'card',
    value: 'BB01',
    when: at('2026-12-25T10:30:00Z'),
    expect: 'granted',
  },
  {
    what: 'a group whose schedule has no interval: in the copy, and outside the schedule there too',
    door: 'front',
    kind: 'card',
    value: '0C10',
    when: SYNC_AT,
    expect: 'outside_schedule',
  },
  {
    what: 'the group without a schedule opens on a holiday',
    door: 'front',
    kind: 'card',
    value: '04A22B1C',
    when: at('2026-12-25T08:00:00Z'),
    expect: 'granted',
  },
  {
    what: 'lockdown refuses a valid card',
    door: 'vault',
    kind: 'card',
    value: '04A22B1C',
    when: SYNC_AT,
    expect: 'lockdown',
  },
  {
    what: 'lockdown before a malformed value',
    door: 'vault',
    kind: 'card',
    value: 'XYZ',
    when: SYNC_AT,
    expect: 'lockdown',
  },
  {
    what: 'lockdown before an unknown card',
    door: 'vault',
    kind: 'card',
    value: '0000BEEF',
    when: SYNC_AT,
    expect: 'lockdown',
  },
  {
    what: 'lockdown before a revoked card',
    door: 'vault',
    kind: 'card',
    value: 'DD01',
    when: SYNC_AT,
    expect: 'lockdown',
  },
  {
    what: 'lockdown refuses a PIN',
    door: 'vault',
    kind: 'keypad',
    value: '246813',
    when: SYNC_AT,
    expect: 'lockdown',
  },
  {
    what: 'a door kept unlocked still decides: granted',
    door: 'gym',
    kind: 'card',
    value: '04A22B1C',
    when: SYNC_AT,
    expect: 'granted',
  },
  {
    what: 'a door kept unlocked still decides: unknown',
    door: 'gym',
    kind: 'card',
    value: '0000BEEF',
    when: SYNC_AT,
    expect: 'unknown_credential',
  },
  {
    what: 'a door kept unlocked still decides: schedule',
    door: 'gym',
    kind: 'card',
    value: 'BB01',
    when: at('2026-11-27T19:00:00Z'),
    expect: 'outside_schedule',
  },
  {
    what: "before the person's access window: the copy has the window as the card's validity",
    door: 'front',
    kind: 'card',
    value: '3A01',
    when: SYNC_AT,
    expect: 'person_outside_window',
    copy: 'not_yet_valid',
  },
  {
    what: "inside the person's access window",
    door: 'front',
    kind: 'card',
    value: '3A01',
    when: SYNC_AT + 25 * HOUR,
    expect: 'granted',
  },
  {
    what: "inside the person's access window, PIN",
    door: 'front',
    kind: 'keypad',
    value: '97531864',
    when: SYNC_AT + 25 * HOUR,
    expect: 'granted',
  },
  {
    what: "at the end of the person's access window, with the copy still from before",
    door: 'front',
    kind: 'card',
    value: '3A01',
    when: SYNC_AT + 48 * HOUR,
    expect: 'person_outside_window',
    copy: 'expired',
  },
  {
    what: 'a person whose access window had ended is not in the copy',
    door: 'front',
    kind: 'card',
    value: '3B01',
    when: SYNC_AT,
    expect: 'person_outside_window',
    copy: 'unknown_credential',
  },
];

let dataDir: string;
let opened: OpenedStore;
let service: DecisionService;
let sync: DoorSync;
let clock = SYNC_AT;
const copies = new Map<string, DoorCopy>();

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'gh-agreement-'));
  opened = openHubStore(dataDir, { now: () => clock });
  const { store } = opened;
  for (const id of ['front', 'vault', 'gym']) store.doors.add({ id, name: id, transport: 'mqtt' });
  store.doors.setMode('vault', 'lockdown');
  store.doors.setMode('gym', 'unlocked');
  store.schedules.set('office', 'Office hours', [
    ...(['mon', 'tue', 'wed', 'thu', 'fri'] as const).map((day) => ({ day, from: '08:00', to: '18:00' })),
    { day: 'hol', from: '11:00', to: '12:00' },
  ]);
  store.schedules.set('closed', 'Closed', []);
  store.holidays.add('2026-12-25', 'Christmas');
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.add({ id: 'staff', name: 'Staff', scheduleId: 'office' });
  store.groups.add({ id: 'closed', name: 'Closed', scheduleId: 'closed' });
  store.groups.addDoor('closed', 'front');
  for (const door of ['front', 'vault', 'gym']) {
    store.groups.addDoor('residents', door);
    store.groups.addDoor('staff', door);
  }
  const person = (id: string, group: string | null) => {
    store.people.add({ id, name: id, kind: 'resident' });
    if (group) store.groups.addMember(group, id);
  };
  person('ada', 'residents');
  store.credentials.addCard('ada', '04A22B1C');
  store.credentials.addPin('ada', '246813');
  person('bob', 'staff');
  store.credentials.addCard('bob', 'BB01');
  store.credentials.addPin('bob', '13572468');
  person('cleo', 'residents');
  store.credentials.addCard('cleo', 'CC01');
  store.credentials.addPin('cleo', '55667788');
  store.people.setSuspended('cleo', true);
  person('dan', 'residents');
  store.credentials.revoke(store.credentials.addCard('dan', 'DD01').id, 'lost');
  person('eve', 'residents');
  store.credentials.addCard('eve', 'EE01', { validFrom: SYNC_AT + 24 * HOUR });
  person('finn', 'residents');
  store.credentials.addCard('finn', 'FF01', { validUntil: SYNC_AT + 2 * HOUR });
  person('cole', 'closed');
  store.credentials.addCard('cole', '0C10');
  person('alex', null);
  store.credentials.addCard('alex', 'AA01');
  person('wendy', 'residents');
  store.credentials.addCard('wendy', '3A01');
  store.credentials.addPin('wendy', '97531864');
  store.people.setWindow('wendy', { from: SYNC_AT + 24 * HOUR, until: SYNC_AT + 48 * HOUR });
  person('walt', 'residents');
  store.credentials.addCard('walt', '3B01');
  store.people.setWindow('walt', { from: null, until: SYNC_AT - HOUR });

  const bus = new EventBus();
  service = new DecisionService({
    store,
    bus,
    lockout: new KeypadLockout(),
    timeZone: ZONE,
    now: () => clock,
    logger: silentLogger(),
  });
  await service.start();

  // The copies get exactly the signed bytes DoorSync publishes for their door.
  const issuer = IssuerKey.loadOrCreate(dataDir);
  for (const id of ['front', 'vault', 'gym']) copies.set(id, new DoorCopy(id, issuer.publicKey));
  sync = new DoorSync({
    store,
    bus,
    signingKey: issuer.privateKey,
    publish: async (doorId, _channel, message) => {
      copies.get(doorId)?.apply(JSON.stringify(message));
    },
    pinKey: opened.keys.subkey('pin'),
    cardKey: opened.keys.subkey('card'),
    timeZone: ZONE,
    now: () => SYNC_AT,
  });
  await sync.start();
  await sync.idle();
});

afterAll(async () => {
  await sync?.stop();
  await service?.stop();
  await opened?.store.stop();
  opened?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the hub and a door copy decide alike', () => {
  it('every door has its copy', () => {
    for (const [id, copy] of copies) expect(copy.version, id).toBeGreaterThan(0);
  });

  it.each(ROWS.map((row, i) => [row.what, row, i] as const))('%s', (_what, row, i) => {
    clock = row.when;
    // A reader per row: wrong codes in one row must not lock the keypad of the next.
    const presentation: Presentation = {
      doorId: row.door,
      kind: row.kind,
      value: row.value,
      readerId: `r${i}`,
    };
    const hub = service.decide(presentation);
    const door = copies.get(row.door)!.decide(row.kind, row.value, row.when);
    expect({ granted: hub.granted, reason: hub.reason }).toEqual({
      granted: row.expect === 'granted',
      reason: row.expect,
    });
    expect(door).toEqual({
      granted: hub.granted,
      reason: row.copy ?? (ABSENT_FROM_COPY.has(hub.reason) ? 'unknown_credential' : hub.reason),
    });
  });
});
