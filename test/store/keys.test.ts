import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubKeys } from '../../hub/store/keys.js';

describe('HubKeys', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-keys-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates hub.key once, readable only by its owner, and reuses it', () => {
    const dataDir = join(dir, 'data');
    const first = HubKeys.loadOrCreate(dataDir);
    const file = join(dataDir, 'hub.key');
    expect(first.file).toBe(file);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = HubKeys.loadOrCreate(dataDir);
    expect(second.hmac('pin', '1234')).toBe(first.hmac('pin', '1234'));
  });

  it('gives different hashes for different purposes and different hubs', () => {
    const a = HubKeys.loadOrCreate(join(dir, 'a'));
    const b = HubKeys.loadOrCreate(join(dir, 'b'));
    expect(a.hmac('pin', '1234')).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hmac('pin', '1234')).not.toBe(a.hmac('device', '1234'));
    expect(a.hmac('pin', '1234')).not.toBe(b.hmac('pin', '1234'));
  });

  it('refuses a damaged key file instead of silently making a new key', () => {
    const file = join(dir, 'hub.key');
    writeFileSync(file, 'not a key\n', { mode: 0o600 });
    expect(() => HubKeys.loadOrCreate(dir)).toThrow(
      `hub key ${file} is damaged (expected 64 hex characters); restore it from the backup`,
    );
    expect(readFileSync(file, 'utf8')).toBe('not a key\n');
  });

  it('tightens a key file that others could read, with one warning', () => {
    writeFileSync(join(dir, 'hub.key'), `${'ab'.repeat(32)}\n`, { mode: 0o644 });
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    HubKeys.loadOrCreate(dir, logger);
    expect(statSync(join(dir, 'hub.key')).mode & 0o777).toBe(0o600);
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual([
      'hub key was readable by other users; setting mode 0600',
    ]);
  });
});
