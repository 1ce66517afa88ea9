import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueCode, MS_PER_HOUR } from '../../hub/offline/codes.js';
import { seedBuilding, type TempData, tempData, ZONE } from './helpers.js';

const at = (iso: string) => Date.parse(iso);
const hourOf = (iso: string) => Math.floor(at(iso) / MS_PER_HOUR);

describe('OfflineCodes at the hub (real SQLite)', () => {
  let data: TempData;
  beforeEach(() => {
    data = tempData();
  });
  afterEach(() => data.cleanup());

  it('accepts codes the cloud issued with the shared secret while the hub was offline, only in their window', () => {
    const opened = data.open();
    seedBuilding(opened);
    const codes = data.codes(opened);
    // The "cloud": same secret, no contact with the hub.
    const secret = data.secret();
    const daily = issueCode(
      secret,
      { type: 'daily', date: '2026-11-27', index: 0, scope: 'door:front' },
      ZONE,
    );
    const hourly = issueCode(
      secret,
      {
        type: 'hourly',
        startHour: hourOf('2026-11-27T09:00:00Z'),
        hours: 4,
        index: 0,
        scope: 'group:residents',
      },
      ZONE,
    );

    expect(codes.verify('front', daily.digits, at('2026-11-27T12:00:00Z'))).toMatchObject({
      granted: true,
      reason: 'granted',
      serial: daily.serial,
      type: 'daily',
    });
    expect(codes.verify('front', daily.digits, at('2026-11-28T12:00:00Z'))).toBeNull();
    expect(codes.verify('garage', daily.digits, at('2026-11-27T12:00:00Z'))).toBeNull();

    expect(codes.verify('front', hourly.digits, at('2026-11-27T08:30:00Z'))).toBeNull();
    expect(codes.verify('front', hourly.digits, at('2026-11-27T10:00:00Z'))?.granted).toBe(true);
    expect(codes.verify('garage', hourly.digits, at('2026-11-27T10:00:00Z'))).toBeNull();
    expect(codes.verify('front', hourly.digits, at('2026-11-27T13:00:00Z'))).toBeNull();
  });

  it('revokes a serial durably: refused after revocation, also after a restart, with an admin.code.revoked event', () => {
    const opened = data.open();
    seedBuilding(opened);
    const codes = data.codes(opened);
    const code = issueCode(
      data.secret(),
      { type: 'daily', date: '2026-11-27', index: 3, scope: 'site' },
      ZONE,
    );
    const now = at('2026-11-27T12:00:00Z');
    expect(codes.verify('front', code.digits, now)?.granted).toBe(true);

    expect(codes.revoke(code.serial, { reason: 'shared online', actor: 'cli' })).toEqual({
      serial: code.serial,
      alreadyRevoked: false,
    });
    expect(codes.verify('front', code.digits, now)).toMatchObject({ granted: false, reason: 'revoked' });
    expect(codes.revoke(code.serial).alreadyRevoked).toBe(true);

    opened.close();
    const reopened = data.open();
    const after = data.codes(reopened);
    expect(after.verify('garage', code.digits, now)).toMatchObject({ granted: false, reason: 'revoked' });
    const events = reopened.store.events.list({ type: 'admin.code.revoked' });
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ serial: code.serial, reason: 'shared online', actor: 'cli' });
  });

  it('lets a one-time code in once; a replay is refused, also after a restart', () => {
    const opened = data.open();
    seedBuilding(opened);
    const codes = data.codes(opened);
    const code = issueCode(
      data.secret(),
      { type: 'once', startHour: hourOf('2026-11-27T09:00:00Z'), hours: 8, index: 0, scope: 'door:front' },
      ZONE,
    );
    expect(codes.verify('front', code.digits, at('2026-11-27T10:00:00Z'))?.granted).toBe(true);
    expect(codes.verify('front', code.digits, at('2026-11-27T10:00:05Z'))).toMatchObject({
      granted: false,
      reason: 'expired',
      detail: 'used',
    });
    opened.close();
    const reopened = data.open();
    expect(data.codes(reopened).verify('front', code.digits, at('2026-11-27T11:00:00Z'))).toMatchObject({
      granted: false,
      reason: 'expired',
    });
  });

  it('keeps a first-use code working for 15 minutes after its first entry', () => {
    const opened = data.open();
    seedBuilding(opened);
    const codes = data.codes(opened);
    const code = issueCode(
      data.secret(),
      { type: 'first-use', startHour: hourOf('2026-11-27T09:00:00Z'), hours: 2, index: 0, scope: 'site' },
      ZONE,
    );
    expect(codes.verify('front', code.digits, at('2026-11-27T10:50:00Z'))?.granted).toBe(true);
    expect(codes.verify('garage', code.digits, at('2026-11-27T11:04:00Z'))?.granted).toBe(true);
    expect(codes.verify('front', code.digits, at('2026-11-27T11:05:01Z'))).toMatchObject({
      granted: false,
      reason: 'expired',
      detail: 'first_use_expired',
    });
  });

  it('remembers an hour-window code used in its first day, so it works for its whole window', () => {
    const opened = data.open();
    seedBuilding(opened);
    const codes = data.codes(opened);
    const code = issueCode(
      data.secret(),
      { type: 'hourly', startHour: hourOf('2026-11-27T09:00:00Z'), hours: 72, index: 0, scope: 'site' },
      ZONE,
    );
    // Never used in its first 24 h: the hub cannot tell it from a guess.
    const unused = issueCode(
      data.secret(),
      { type: 'hourly', startHour: hourOf('2026-11-27T09:00:00Z'), hours: 72, index: 1, scope: 'site' },
      ZONE,
    );
    expect(codes.verify('front', code.digits, at('2026-11-27T10:00:00Z'))?.granted).toBe(true);
    expect(codes.verify('front', code.digits, at('2026-11-29T10:00:00Z'))?.granted).toBe(true);
    expect(codes.verify('front', unused.digits, at('2026-11-29T10:00:00Z'))).toBeNull();
    expect(codes.verify('front', code.digits, at('2026-11-30T09:00:00Z'))).toBeNull();
  });

  it('issues codes at the hub that work at the door, records them without the digits, and refuses a suspended holder', () => {
    const now = at('2026-11-27T12:00:00Z');
    const opened = data.open(() => now);
    seedBuilding(opened);
    const codes = data.codes(opened);
    const issued = codes.issue({
      type: 'daily',
      date: '2026-11-27',
      scope: 'group:residents',
      personId: 'alice',
      actor: 'cli',
    });
    expect(issued.digits).toMatch(/^5\d{8}$/); // hub indexes are 50-99
    expect(codes.verify('front', issued.digits, now)).toMatchObject({ granted: true, personId: 'alice' });

    const second = codes.issue({
      type: 'daily',
      date: '2026-11-27',
      scope: 'group:residents',
      label: 'plumber',
    });
    expect(second.digits).not.toBe(issued.digits);
    expect(
      codes
        .list({ now })
        .map((c) => c.serial)
        .sort(),
    ).toEqual([issued.serial, second.serial].sort());

    const event = opened.store.events.list({ type: 'admin.code.issued' })[0]!;
    expect(JSON.stringify(event)).not.toContain(second.digits);
    expect(event.data).toMatchObject({
      serial: second.serial,
      type: 'daily',
      scope: 'group:residents',
      label: 'plumber',
    });

    opened.store.people.setSuspended('alice', true);
    expect(codes.verify('front', issued.digits, now)).toMatchObject({ granted: false, reason: 'suspended' });
    expect(codes.verify('front', second.digits, now)?.granted).toBe(true);
  });

  it('refuses bad issue requests with a clear message', () => {
    const opened = data.open();
    seedBuilding(opened);
    const codes = data.codes(opened);
    expect(() => codes.issue({ type: 'daily', date: '2026-11-27', scope: 'door:nope' })).toThrow(
      /door 'nope' not found/,
    );
    expect(() => codes.issue({ type: 'daily', date: '2026-11-27', scope: 'everywhere' })).toThrow(/scope/);
    expect(() =>
      codes.issue({ type: 'hourly', validFrom: at('2026-11-27T09:00:00Z'), hours: 700, scope: 'site' }),
    ).toThrow(/1-672/);
    expect(() => codes.issue({ type: 'daily', date: '2026-11-27', scope: 'site', personId: 'bob' })).toThrow(
      /not found/,
    );
    expect(() => codes.revoke('123')).toThrow(/serial/);
    for (let i = 0; i < 50; i++) codes.issue({ type: 'daily', date: '2026-11-28', scope: 'door:front' });
    expect(() => codes.issue({ type: 'daily', date: '2026-11-28', scope: 'door:front' })).toThrow(
      /already in use/,
    );
  });

  it('issues several one-time codes for the same hour and door; each works once', () => {
    const now = at('2026-11-27T09:30:00Z');
    const opened = data.open(() => now);
    seedBuilding(opened);
    const codes = data.codes(opened);
    const request = {
      type: 'once' as const,
      validFrom: now,
      hours: 2,
      scope: 'door:front',
      label: 'courier',
    };
    const issued = [codes.issue(request), codes.issue(request), codes.issue(request)];
    expect(new Set(issued.map((c) => c.digits)).size).toBe(3);
    expect(new Set(issued.map((c) => c.serial)).size).toBe(3);
    for (const code of issued) {
      expect(code.window).toEqual({ start: at('2026-11-27T09:00:00Z'), end: at('2026-11-27T11:00:00Z') });
      expect(codes.verify('front', code.digits, now)?.granted).toBe(true);
      expect(codes.verify('front', code.digits, now + 1000)).toMatchObject({
        granted: false,
        reason: 'expired',
      });
    }
    const fourth = codes.issue(request);
    codes.revoke(fourth.serial);
    expect(codes.verify('front', fourth.digits, now)).toMatchObject({ granted: false, reason: 'revoked' });
  });

  it('learns a cloud-issued code from the mirror: it then works all window long and follows its holder', () => {
    const opened = data.open();
    seedBuilding(opened);
    const codes = data.codes(opened);
    const spec = {
      type: 'hourly' as const,
      startHour: hourOf('2026-11-27T09:00:00Z'),
      hours: 96,
      index: 0,
      scope: 'group:residents',
    };
    const code = issueCode(data.secret(), spec, ZONE);
    expect(codes.learnIssued(spec, { personId: 'alice', label: 'sister' })).toEqual({
      serial: code.serial,
      learned: true,
    });
    expect(codes.learnIssued(spec).learned).toBe(false);
    // First used on day 3: a code the hub had never heard of would be refused by then.
    expect(codes.verify('front', code.digits, at('2026-11-29T20:00:00Z'))).toMatchObject({
      granted: true,
      personId: 'alice',
    });
    opened.store.people.setSuspended('alice', true);
    expect(codes.verify('front', code.digits, at('2026-11-29T20:05:00Z'))).toMatchObject({
      reason: 'suspended',
    });
    expect(() => codes.learnIssued({ ...spec, hours: 0 })).toThrow(/hours/);
  });

  it('refuses timed codes while the clock is untrusted (policy), but not when set to accept', () => {
    const opened = data.open();
    seedBuilding(opened);
    const code = issueCode(
      data.secret(),
      { type: 'daily', date: '2026-11-27', index: 1, scope: 'site' },
      ZONE,
    );
    const now = at('2026-11-27T12:00:00Z');
    expect(data.codes(opened, { trusted: false }).verify('front', code.digits, now)).toMatchObject({
      granted: false,
      reason: 'no_access',
      detail: 'time_untrusted',
    });
    expect(
      data
        .codes(opened, { trusted: false, config: { untrustedTime: 'accept' } })
        .verify('front', code.digits, now)?.granted,
    ).toBe(true);
  });
});
