// `gatehouse backup passphrase`, `gatehouse backup now` and the backups line of `gatehouse status`, as an
// operator runs them (the compiled CLI), against a hub running in its own process.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type HubProcess, removeDir, cli as runCli, spawnHub, tempDataDir } from '../helpers/hub.js';

const PASS = 'lighthouse keeper 1904 plum';
const cli = (dataDir: string, args: string[], input?: string) => runCli(dataDir, args, input, 120_000);

const dirs: string[] = [];
const hubs: HubProcess[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) {
    hub.child.kill('SIGTERM');
    await hub.exited;
  }
  for (const dir of dirs.splice(0)) removeDir(dir);
});

describe('gatehouse backup passphrase / now', () => {
  it('sets the passphrase (0600), refuses a short one, and runs the scheduled backup in the running hub', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const file = path.join(dataDir, 'backup.passphrase');

    const short = await cli(dataDir, ['backup', 'passphrase'], 'too short\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/the backup passphrase must be at least 12 characters \(got 9\)/);

    const set = await cli(dataDir, ['backup', 'passphrase'], `${PASS}\n`);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain(`backup passphrase saved in ${file} (mode 0600)`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(`${PASS}\n`);

    const hub = await spawnHub(dataDir, { GATEHOUSE_BACKUPS_ENABLED: 'true' });
    hubs.push(hub);
    const now = await cli(dataDir, ['backup', 'now']);
    expect(now.stderr).toBe('');
    expect(now.code).toBe(0);
    expect(now.stdout).toMatch(
      /^backup written to .*\/backups\/gatehouse-\d{8}T\d{6}Z\.ghbackup \(\d+ bytes\)\n$/,
    );
    const written = readdirSync(path.join(dataDir, 'backups'));
    expect(written).toHaveLength(1);
    // The hub wrote it: its event log has the record, its status the success.
    const status = await cli(dataDir, ['status', '--json']);
    const backups = (JSON.parse(status.stdout) as { backups: Record<string, unknown> }).backups;
    expect(backups).toMatchObject({
      enabled: true,
      lastSuccess: { file: path.join(dataDir, 'backups', written[0]!) },
      lastFailure: null,
      overdue: false,
    });
    const human = await cli(dataDir, ['status']);
    expect(human.stdout).toMatch(/^backups: last ok .* \(\d+\.\d MB\), next .*$/m);

    const check = await cli(
      dataDir,
      ['restore', path.join(dataDir, 'backups', written[0]!), '--check'],
      `${PASS}\n`,
    );
    expect(check.stdout).toMatch(/^backup OK: hub /);
  }, 240_000);

  it('with the hub stopped, `backup now` runs on the store and says why it failed', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const failed = await cli(dataDir, ['backup', 'now']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(
      /^error: backup failed: no backup passphrase: .*backup\.passphrase does not exist/m,
    );
  });
});
