// `gatehouse metrics token` (the compiled CLI, as an operator runs it): prints the token once, keeps only its
// hash (mode 0600), `--disable` removes it; the running hub follows the file without a restart.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METRICS_TOKEN_FILE } from '../../hub/metrics/token.js';
import { cli, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { rawRequest } from '../http/raw.js';

const dir = tempDataDir();
afterAll(() => removeDir(dir));

describe('gatehouse metrics token', () => {
  it('prints a new token once, stores only its hash, and --disable turns /metrics off', async () => {
    const hub = await startHub(dir); // in this process; the CLI runs as the operator runs it
    try {
      const port = hub.addresses().http.http!;
      const scrape = (token: string) =>
        rawRequest(port, '/metrics', { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
      expect(await scrape('anything')).toBe(404);

      const made = await cli(dir, ['metrics', 'token']);
      expect(made.code).toBe(0);
      const token = made.stdout.trim();
      expect(token).toMatch(/^ghm_[A-Za-z0-9_-]{43}$/);
      expect(made.stderr).toMatch(/shown only now/);
      const file = path.join(dir, METRICS_TOKEN_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const stored = readFileSync(file, 'utf8');
      expect(stored).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect(stored).not.toContain(token.slice(4));
      expect(await scrape(token)).toBe(200);

      const again = await cli(dir, ['--json', 'metrics', 'token']);
      const second = (JSON.parse(again.stdout) as { token: string }).token;
      expect(second).not.toBe(token);
      expect(await scrape(token)).toBe(401);
      expect(await scrape(second)).toBe(200);

      const off = await cli(dir, ['metrics', 'token', '--disable']);
      expect(off.code).toBe(0);
      expect(off.stdout).toMatch(/off/);
      expect(await scrape(second)).toBe(404);
    } finally {
      await hub.stop();
    }
  }, 60_000);
});
