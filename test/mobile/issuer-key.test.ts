// The hub's issuer key file (mobile-issuer.key) through the one secret-file reader: missing, damaged,
// the wrong kind of key, and loose permissions.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER_KEY_FILE, IssuerKey } from '../../hub/mobile/issuer.js';

describe('the issuer key file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-issuer-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is created once with mode 0600 and read back as the same key', () => {
    const first = IssuerKey.loadOrCreate(dir);
    expect(statSync(join(dir, ISSUER_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(IssuerKey.loadOrCreate(dir).publicKeyText()).toBe(first.publicKeyText());
  });

  it('a damaged file or a key of another kind is an error naming the file, never a new key', () => {
    const file = join(dir, ISSUER_KEY_FILE);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    }) as string;
    for (const text of [
      '',
      'not a key',
      '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      rsa,
    ]) {
      writeFileSync(file, text, { mode: 0o600 });
      expect(() => IssuerKey.loadOrCreate(dir)).toThrow(
        `issuer key ${file} is damaged (expected an Ed25519 private key in PKCS#8 PEM); restore it from the backup`,
      );
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  it('a file other users may read is set back to 0600 with one warning', () => {
    const made = IssuerKey.loadOrCreate(dir);
    const file = join(dir, ISSUER_KEY_FILE);
    chmodSync(file, 0o644);
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    expect(IssuerKey.loadOrCreate(dir, logger).publicKeyText()).toBe(made.publicKeyText());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual([
      'issuer key was readable by other users; setting mode 0600',
    ]);
  });
});
