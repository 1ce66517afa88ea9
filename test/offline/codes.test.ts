import { describe, expect, it } from 'vitest';
import {
  type CodeSpec,
  candidateDates,
  decodeWindowed,
  issueCode,
  MS_PER_HOUR,
  verifyCode,
} from '../../hub/offline/codes.js';

// The test vectors of docs/offline-codes.md: a cloud implementation must produce the same digits.
const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const ZONE = 'Europe/Berlin';
const VECTORS: Array<{ spec: CodeSpec; digits: string; serial: string }> = [
  {
    spec: { type: 'daily', date: '2026-11-27', index: 0, scope: 'site' },
    digits: '005265940',
    serial: 'oc-urdpbmfwoqwm',
  },
  {
    spec: { type: 'daily', date: '2026-11-27', index: 57, scope: 'door:front' },
    digits: '577636444',
    serial: 'oc-phmlfwrnqj7c',
  },
  {
    spec: { type: 'hourly', startHour: 498816, hours: 1, index: 0, scope: 'group:residents' },
    digits: '000006115717',
    serial: 'oc-xiyljfyyjm6l',
  },
  {
    spec: { type: 'hourly', startHour: 498816, hours: 672, index: 1, scope: 'site' },
    digits: '013433343394',
    serial: 'oc-hexsf7pzfzre',
  },
  {
    spec: { type: 'once', startHour: 498830, hours: 24, index: 0, scope: 'door:front' },
    digits: '511181898506',
    serial: 'oc-q5g5pyu7be4q',
  },
  {
    spec: { type: 'first-use', startHour: 498839, hours: 3, index: 1, scope: 'door:garage-2' },
    digits: '954294045110',
    serial: 'oc-qaec7vvsrv32',
  },
];

const at = (iso: string) => Date.parse(iso);
const FRONT = ['site', 'door:front', 'group:residents'];

describe('offline code format v1', () => {
  it('produces the documented test vectors', () => {
    for (const vector of VECTORS) {
      const issued = issueCode(SECRET, vector.spec, ZONE);
      expect(issued.digits).toBe(vector.digits);
      expect(issued.serial).toBe(vector.serial);
    }
  });

  it('accepts a daily code from midnight to midnight in the building zone, with the grace at both ends', () => {
    const code = issueCode(
      SECRET,
      { type: 'daily', date: '2026-11-27', index: 4, scope: 'door:front' },
      ZONE,
    );
    const verify = (iso: string) =>
      verifyCode(SECRET, code.digits, { now: at(iso), timeZone: ZONE, graceMs: 15 * 60_000, scopes: FRONT });
    // Berlin is UTC+1 in November: local midnight is 23:00 UTC the day before.
    expect(verify('2026-11-26T22:44:00Z')).toBeNull();
    expect(verify('2026-11-26T22:46:00Z')?.serial).toBe(code.serial);
    expect(verify('2026-11-27T12:00:00Z')?.type).toBe('daily');
    expect(verify('2026-11-27T23:14:00Z')?.serial).toBe(code.serial);
    expect(verify('2026-11-27T23:16:00Z')).toBeNull();
  });

  it('accepts an hour-window code inside its window only', () => {
    const start = Math.floor(at('2026-11-27T08:00:00Z') / MS_PER_HOUR);
    const code = issueCode(
      SECRET,
      { type: 'hourly', startHour: start, hours: 3, index: 0, scope: 'site' },
      ZONE,
    );
    const verify = (iso: string) =>
      verifyCode(SECRET, code.digits, { now: at(iso), timeZone: ZONE, graceMs: 0, scopes: FRONT });
    expect(verify('2026-11-27T07:59:59Z')).toBeNull();
    expect(verify('2026-11-27T08:00:00Z')?.window).toEqual({
      start: start * MS_PER_HOUR,
      end: (start + 3) * MS_PER_HOUR,
    });
    expect(verify('2026-11-27T10:59:59Z')?.serial).toBe(code.serial);
    expect(verify('2026-11-27T11:00:00Z')).toBeNull();
  });

  it('finds a long code without a record only in the first 24 hours of its window', () => {
    const start = Math.floor(at('2026-11-27T08:00:00Z') / MS_PER_HOUR);
    const code = issueCode(
      SECRET,
      { type: 'hourly', startHour: start, hours: 72, index: 1, scope: 'site' },
      ZONE,
    );
    const verify = (iso: string) =>
      verifyCode(SECRET, code.digits, { now: at(iso), timeZone: ZONE, graceMs: 0, scopes: FRONT });
    expect(verify('2026-11-28T07:59:00Z')?.serial).toBe(code.serial);
    expect(verify('2026-11-28T08:00:00Z')).toBeNull();
  });

  it('refuses a code at a door outside its scope, and a code with any digit changed', () => {
    const code = issueCode(
      SECRET,
      { type: 'daily', date: '2026-11-27', index: 9, scope: 'door:garage' },
      ZONE,
    );
    const now = at('2026-11-27T12:00:00Z');
    expect(verifyCode(SECRET, code.digits, { now, timeZone: ZONE, graceMs: 0, scopes: FRONT })).toBeNull();
    expect(
      verifyCode(SECRET, code.digits, { now, timeZone: ZONE, graceMs: 0, scopes: ['door:garage'] }),
    ).not.toBeNull();
    for (let i = 0; i < code.digits.length; i++) {
      const changed =
        code.digits.slice(0, i) + String((Number(code.digits[i]) + 1) % 10) + code.digits.slice(i + 1);
      expect(
        verifyCode(SECRET, changed, { now, timeZone: ZONE, graceMs: 0, scopes: ['door:garage'] }),
      ).toBeNull();
    }
  });

  it('refuses a code made with another secret', () => {
    const code = issueCode(SECRET, { type: 'daily', date: '2026-11-27', index: 1, scope: 'site' }, ZONE);
    const other = Buffer.alloc(32, 9);
    expect(
      verifyCode(other, code.digits, {
        now: at('2026-11-27T12:00:00Z'),
        timeZone: ZONE,
        graceMs: 0,
        scopes: FRONT,
      }),
    ).toBeNull();
  });

  it('never throws on hostile input', () => {
    const options = { now: at('2026-11-27T12:00:00Z'), timeZone: ZONE, graceMs: 0, scopes: FRONT };
    for (const digits of [
      '',
      'abc',
      '99999999999',
      '999999999999',
      '1'.repeat(100),
      '12345678\n',
      '１２３４５６７８９',
    ]) {
      expect(verifyCode(SECRET, digits, options)).toBeNull();
    }
    expect(verifyCode(SECRET, '005265940', { ...options, timeZone: 'Mars/Olympus' })).toBeNull();
    expect(verifyCode(SECRET, '005265940', { ...options, now: Number.NaN })).toBeNull();
    expect(decodeWindowed('999999999999')).toBeNull();
  });

  it('rejects specs it cannot encode, with a clear message', () => {
    expect(() =>
      issueCode(SECRET, { type: 'daily', date: '2026-02-30', index: 0, scope: 'site' }, ZONE),
    ).toThrow(/calendar date/);
    expect(() =>
      issueCode(SECRET, { type: 'hourly', startHour: 1, hours: 673, index: 0, scope: 'site' }, ZONE),
    ).toThrow(/1-672/);
    expect(() =>
      issueCode(SECRET, { type: 'once', startHour: 1, hours: 2, index: 2, scope: 'site' }, ZONE),
    ).toThrow(/index/);
    expect(() =>
      issueCode(SECRET, { type: 'daily', date: '2026-11-27', index: 0, scope: 'room:1' }, ZONE),
    ).toThrow(/scope/);
  });

  it('offers the neighbouring date only inside the midnight grace', () => {
    expect(candidateDates(at('2026-11-27T12:00:00Z'), ZONE, 15 * 60_000)).toEqual(['2026-11-27']);
    expect(candidateDates(at('2026-11-26T23:10:00Z'), ZONE, 15 * 60_000)).toEqual([
      '2026-11-27',
      '2026-11-26',
    ]);
    expect(candidateDates(at('2026-11-27T22:50:00Z'), ZONE, 15 * 60_000)).toEqual([
      '2026-11-27',
      '2026-11-28',
    ]);
  });
});
