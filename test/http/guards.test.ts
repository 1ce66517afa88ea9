// The pieces behind the session rules, with a stepped clock: the per-username login slow-down, the
// stream caps, the setup token file, and config redaction.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { redactSecrets } from '../../hub/cli/program.js';
import { LoginLimiter, StreamRegistry } from '../../hub/http/limits.js';
import { SetupToken } from '../../hub/http/setup-token.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

describe('LoginLimiter', () => {
  it('gives a username a burst, then one attempt per refill period, with the wait to announce', () => {
    let now = 0;
    const limiter = new LoginLimiter({ attemptsPerUser: 3, userRefillSeconds: 60 }, () => now);
    expect([1, 2, 3].map((i) => limiter.admit('Alice', `10.0.0.${i}`))).toEqual([null, null, null]);
    expect(limiter.admit('alice', '10.0.0.9')).toBe(60); // case does not open a second bucket
    now += 30_000;
    expect(limiter.admit('alice', '10.0.0.9')).toBe(30);
    now += 30_000;
    expect(limiter.admit('alice', '10.0.0.9')).toBeNull();
    expect(limiter.admit('bob', '10.0.0.9')).toBeNull(); // other users are not affected
  });

  it('lets an address that logged in as the user before through, for that user only', () => {
    let now = 0;
    const limiter = new LoginLimiter({ attemptsPerUser: 1, userRefillSeconds: 600 }, () => now);
    expect(limiter.admit('alice', '10.0.0.2')).toBeNull();
    limiter.succeeded('alice', '10.0.0.2');
    expect(limiter.admit('alice', '10.6.6.6')).not.toBeNull();
    for (let i = 0; i < 50; i++) expect(limiter.admit('alice', '10.0.0.2')).toBeNull();
    expect(limiter.admit('carol', '10.0.0.2')).toBeNull();
    expect(limiter.admit('carol', '10.0.0.2')).not.toBeNull();
    now += 31 * 24 * 3_600_000; // the good history fades after 30 days
    expect(limiter.admit('alice', '10.0.0.2')).toBeNull(); // (refilled meanwhile)
    expect(limiter.admit('alice', '10.0.0.2')).not.toBeNull();
  });
});

describe('StreamRegistry', () => {
  it('caps per session, per user and in total, and ends streams whose session is gone', () => {
    const registry = new StreamRegistry({ perSession: 1, perUser: 2, total: 3 });
    const ended: string[] = [];
    let aliveB = true;
    const stream = (name: string, session: string, userId: string, alive = () => true) =>
      registry.open({ session, userId, alive, end: () => ended.push(name) });
    expect('release' in stream('a1', 'A', 'u1')).toBe(true);
    expect(stream('a2', 'A', 'u1')).toEqual({ refused: expect.stringMatching(/this login/) });
    expect('release' in stream('b1', 'B', 'u1', () => aliveB)).toBe(true);
    expect(stream('c1', 'C', 'u1')).toEqual({ refused: expect.stringMatching(/this user/) });
    expect('release' in stream('d1', 'D', 'u2')).toBe(true);
    expect(stream('e1', 'E', 'u3')).toEqual({ refused: expect.stringMatching(/live streams/) });
    registry.endSession('A');
    aliveB = false;
    registry.recheck();
    expect(ended).toEqual(['a1', 'b1']);
    expect(registry.size).toBe(1);
    registry.stop();
    expect(registry.size).toBe(0);
  });
});

describe('SetupToken', () => {
  let dir: string;
  afterEach(() => removeDir(dir));

  it('is written 0600, compared exactly (case and spaces forgiven), and gone when retired', () => {
    dir = tempDataDir();
    const token = new SetupToken(dir);
    const value = token.ensure();
    const file = path.join(dir, 'setup-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(value);
    expect(token.matches(value)).toBe(true);
    expect(token.matches(` ${value.toUpperCase()}\n`)).toBe(true);
    expect(token.matches(value.slice(0, -1))).toBe(false);
    expect(token.matches(`${value}x`)).toBe(false);
    expect(token.matches('')).toBe(false);
    expect(token.matches(undefined)).toBe(false);
    expect(token.matches({ toString: () => value })).toBe(false);
    token.retire();
    expect(existsSync(file)).toBe(false);
    expect(token.matches(value)).toBe(false);
  });

  it('keeps the token of an earlier start and tightens a loose file', () => {
    dir = tempDataDir();
    const file = path.join(dir, 'setup-token');
    writeFileSync(file, 'abcde-fghjk-mnpqr-stuvw\n', { mode: 0o644 });
    const token = new SetupToken(dir);
    expect(token.ensure()).toBe('abcde-fghjk-mnpqr-stuvw');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('redactSecrets', () => {
  it('hides values of secret-named keys at any depth and keeps paths and public keys', () => {
    const out = redactSecrets({
      cloud: { token: 'sekrit-token-123456', tokenFile: '/etc/token', hubId: 'h1' },
      nested: [{ adminPassword: 'pw', clientSecret: 's', privateKey: 'k', passphrase: 'p' }],
      mobile: { cloudIssuerPublicKey: 'MCowBQYDK2VwAyEA' },
      empty: { token: '' },
    });
    expect(out).toEqual({
      cloud: { token: '[redacted]', tokenFile: '/etc/token', hubId: 'h1' },
      nested: [
        {
          adminPassword: '[redacted]',
          clientSecret: '[redacted]',
          privateKey: '[redacted]',
          passphrase: '[redacted]',
        },
      ],
      mobile: { cloudIssuerPublicKey: 'MCowBQYDK2VwAyEA' },
      empty: { token: '' },
    });
  });
});
