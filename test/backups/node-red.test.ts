// What a swap needs besides the database and keys: the installer's Node-RED flows (with their
// credentials, sealed with a key derived from the hub key) and the config file the hub ran with.
// Real files, the scheduled backup of a real hub, the compiled CLI's restore (docs/replace-a-hub.md).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { createBackup, MAX_NODE_RED_BYTES, restoreBackup } from '../../hub/store/backup.js';
import { HubKeys } from '../../hub/store/keys.js';
import { cli, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

const PASS = 'lighthouse keeper 1904 plum';
const FAST_KDF = { log2N: 14, r: 8, p: 1 };

const dirs: string[] = [];
const hubs: Hub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.stop();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

function newDir(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  return dir;
}

/** Node-RED's credential file format: {"$": hex IV + base64 of AES-256-CTR under sha256(credentialSecret)}. */
function sealCredentials(secretHex: string, credentials: unknown): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(secretHex).digest(), iv);
  const body = cipher.update(JSON.stringify(credentials), 'utf8', 'base64') + cipher.final('base64');
  return JSON.stringify({ $: iv.toString('hex') + body });
}

function openCredentials(secretHex: string, file: string): unknown {
  const sealed = (JSON.parse(readFileSync(file, 'utf8')) as { $: string }).$;
  const decipher = createDecipheriv(
    'aes-256-ctr',
    createHash('sha256').update(secretHex).digest(),
    Buffer.from(sealed.slice(0, 32), 'hex'),
  );
  return JSON.parse(decipher.update(sealed.slice(32), 'base64', 'utf8') + decipher.final('utf8'));
}

const credentialSecret = (dataDir: string) =>
  HubKeys.loadOrCreate(dataDir).subkey('node-red-credentials').toString('hex');

/** What an installer leaves in <data>/node-red: flows, credentials, a library entry, packages, settings. */
function installFlows(dataDir: string): Record<string, Buffer> {
  const root = path.join(dataDir, 'node-red');
  mkdirSync(path.join(root, 'lib', 'flows'), { recursive: true });
  mkdirSync(path.join(root, 'node_modules', 'node-red-contrib-thing'), { recursive: true });
  const files: Record<string, string> = {
    'flows.json': JSON.stringify([{ id: 'f1', type: 'tab', label: 'Doorbell to Slack' }]),
    'flows_cred.json': sealCredentials(credentialSecret(dataDir), { slack1: { token: 'xoxb-secret' } }),
    '.config.runtime.json': JSON.stringify({ instanceId: 'abc123' }),
    'package.json': JSON.stringify({ dependencies: { 'node-red-contrib-thing': '1.0.0' } }),
    'lib/flows/night mode.json': JSON.stringify([{ id: 'n1', type: 'inject' }]),
  };
  for (const [name, text] of Object.entries(files))
    writeFileSync(path.join(root, name), text, { mode: 0o600 });
  writeFileSync(path.join(root, 'node_modules', 'node-red-contrib-thing', 'index.js'), 'module.exports = 1;');
  writeFileSync(path.join(root, 'gatehouse-settings.cjs'), '// written by the hub at every start');
  return Object.fromEntries(Object.entries(files).map(([name, text]) => [name, Buffer.from(text)]));
}

describe('Node-RED flows and the config file in backups', { timeout: 180_000 }, () => {
  it('the scheduled backup holds them; the CLI restore brings the flows back and the config beside them', async () => {
    const oldDir = newDir();
    writeFileSync(path.join(oldDir, 'backup.passphrase'), `${PASS}\n`, { mode: 0o600 });
    const config = 'timeZone: Europe/Oslo\n# the installer wrote this\n';
    writeFileSync(path.join(oldDir, 'config.yaml'), config);
    const flows = installFlows(oldDir);
    const hub = await startHub(oldDir, { backups: { enabled: true } });
    hubs.push(hub);
    const run = await hub.backups!.runNow();
    expect(run).toMatchObject({ ok: true, error: null });
    expect(run.skipped).toBeUndefined();
    await hub.stop();
    hubs.splice(0);

    // The new Pi: its own (already running once) config file must not be replaced.
    const newHubDir = newDir();
    const ownConfig = 'timeZone: UTC\n';
    writeFileSync(path.join(newHubDir, 'config.yaml'), ownConfig);
    const restored = await cli(newHubDir, ['restore', run.file!], `${PASS}\n`, 120_000);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    const fromBackup = path.join(newHubDir, 'config-from-backup.yml');
    expect(restored.stdout).toContain('Node-RED flows restored');
    expect(restored.stdout).toContain(
      `The config file the old hub ran with is in ${fromBackup}: it was NOT applied`,
    );
    expect(readFileSync(fromBackup, 'utf8')).toBe(config);
    expect(statSync(fromBackup).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(newHubDir, 'config.yaml'), 'utf8')).toBe(ownConfig);

    for (const [name, bytes] of Object.entries(flows)) {
      const file = path.join(newHubDir, 'node-red', name);
      expect(readFileSync(file)).toEqual(bytes);
      expect(statSync(file).mode & 0o077).toBe(0); // credentials and flows stay private
    }
    expect(existsSync(path.join(newHubDir, 'node-red', 'node_modules'))).toBe(false);
    expect(existsSync(path.join(newHubDir, 'node-red', 'gatehouse-settings.cjs'))).toBe(false);
    // The hub key came back, so Node-RED on the new hub can open the credentials.
    expect(
      openCredentials(credentialSecret(newHubDir), path.join(newHubDir, 'node-red', 'flows_cred.json')),
    ).toEqual({
      slack1: { token: 'xoxb-secret' },
    });
  });

  it('a Node-RED folder over the limit is left out with a warning; the backup is still written', async () => {
    const dataDir = newDir();
    const hub = await startHub(dataDir);
    hubs.push(hub);
    installFlows(dataDir);
    // A file far beyond any flow (sparse: no disk used).
    const big = openSync(path.join(dataDir, 'node-red', 'lib', 'huge.bin'), 'w');
    ftruncateSync(big, MAX_NODE_RED_BYTES + 1);
    closeSync(big);
    const file = path.join(newDir(), 'backup.ghbackup');
    const result = await createBackup({
      file,
      passphrase: PASS,
      dataDir,
      kdf: FAST_KDF,
    });
    expect(result.files.some((f) => f.startsWith('node-red/'))).toBe(false);
    expect(result.skipped).toEqual([expect.stringMatching(/node-red: left out, larger than 64 MiB/)]);

    const target = newDir();
    const restored = await restoreBackup({ file, passphrase: PASS, dataDir: target });
    expect(restored.files).toContain('hub.key');
    expect(restored.restoredConfig).toBeNull();
    expect(existsSync(path.join(target, 'node-red'))).toBe(false);
  });
});
