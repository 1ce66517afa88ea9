// The one reader of the hub's secret files, tried through the offline code secret (code.key) and directly.
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CodeSecret } from '../../hub/offline/secret.js';
import { hexKeyFormat, readSecretFile } from '../../hub/secret-file.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gh-secret-'));
}

function capture(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => out.push(line) });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('secret files', () => {
  it('a missing file is null; the code secret is then created with mode 0600', () => {
    const dir = tempDir();
    expect(readSecretFile(join(dir, 'code.key'), hexKeyFormat('code secret'))).toBeNull();
    const secret = CodeSecret.loadOrCreate(dir);
    expect(statSync(secret.file).mode & 0o777).toBe(0o600);
    expect(readFileSync(secret.file, 'utf8')).toBe(`${secret.exportHex()}\n`);
  });

  it('a damaged file is an error naming the file and the backup, never a new key', () => {
    const dir = tempDir();
    const file = join(dir, 'code.key');
    for (const text of ['', 'not hex at all', 'AB'.repeat(32), 'ab'.repeat(31), `${'ab'.repeat(32)}\u0000`]) {
      writeFileSync(file, text, { mode: 0o600 });
      expect(() => CodeSecret.loadOrCreate(dir)).toThrow(
        `code secret ${file} is damaged (expected 64 hex characters); restore it from the backup`,
      );
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  it('a file other users may read is set back to 0600 with one warning', () => {
    const dir = tempDir();
    const file = join(dir, 'code.key');
    writeFileSync(file, `${'c3'.repeat(32)}\n`);
    chmodSync(file, 0o644);
    const { logger, lines } = capture();
    const key = readSecretFile(file, hexKeyFormat('code secret'), logger);
    expect(key?.toString('hex')).toBe('c3'.repeat(32));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(lines().map((l) => l['msg'])).toEqual([
      'code secret was readable by other users; setting mode 0600',
    ]);
  });
});
