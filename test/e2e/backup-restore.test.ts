// `gatehouse backup` / `gatehouse restore` as an operator runs them (the compiled CLI): one encrypted
// file from a running hub, restored onto a new SD card, and the restored hub decides a card, a PIN,
// a daily doorcode and a mobile key exactly as the old one did.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { IssuerKey, issueMobileKey } from '../../hub/mobile/issuer.js';
import { httpRequester, Phone, presentOverApi } from '../../hub/mobile/phone.js';
import { issueCode } from '../../hub/offline/codes.js';
import { CodeSecret } from '../../hub/offline/secret.js';
import { openHubStore } from '../../hub/open-store.js';
import { SCHEMA_VERSION } from '../../hub/store/migrations.js';
import { connectDevice, present, removeDir, cli as runCli, startHub, tempDataDir } from '../helpers/hub.js';
import { hashTree } from '../store/helpers.js';

const PASS = 'lighthouse keeper 1904 plum';
const CARD = '04A22B1C9F';
const PIN = '48151623';
const HUB_CONFIG = { timeZone: 'UTC', offline: { clock: { rtc: true, ntpCheck: false } } };

/** `gatehouse <args>`, with room for scrypt on a loaded 2-core machine. */
const cli = (dataDir: string, args: string[], input?: string) => runCli(dataDir, args, input, 90_000);

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

interface Building {
  secret: string;
  phone: Phone;
  codeDigits: string;
}

function setUp(dir: string): Building {
  const opened = openHubStore(dir);
  try {
    const { store } = opened;
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
    store.credentials.addCard('ada', CARD);
    store.credentials.addPin('ada', PIN);
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', 'front');
    store.groups.addMember('residents', 'ada');
    const secret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
    const phone = Phone.generate();
    phone.install(
      issueMobileKey(store, IssuerKey.loadOrCreate(dir), {
        personId: 'ada',
        phonePublicKey: phone.publicKey,
        doors: ['front'],
      }).certificate,
    );
    const today = new Date().toISOString().slice(0, 10);
    const code = issueCode(
      CodeSecret.loadOrCreate(dir).bytes(),
      { type: 'daily', date: today, index: 7, scope: 'site' },
      'UTC',
    );
    return { secret, phone, codeDigits: code.digits };
  } finally {
    opened.close();
  }
}

/** Card, PIN, daily code and mobile key at door 'front' of a running hub. */
async function decisions(hub: Hub, b: Building): Promise<Record<string, string>> {
  const device = await connectDevice(hub.addresses().mqtt.tcp!, 'front-reader', b.secret);
  try {
    await device.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
    const reason = async (id: string, kind: string, value: string) =>
      (await present(device, 'front', { id, kind, value })).reason;
    const lan = httpRequester(`http://127.0.0.1:${hub.addresses().http.http}`);
    return {
      card: await reason('c', 'card', CARD),
      unknownCard: await reason('u', 'card', '04A22B1C9E'),
      pin: await reason('p', 'keypad', PIN),
      code: await reason('d', 'keypad', b.codeDigits),
      mobile: (await presentOverApi(b.phone, 'front', lan)).reason,
    };
  } finally {
    await device.endAsync(true);
  }
}

// Every CLI call is a node process and most derive a 128 MiB scrypt key: generous timeouts.
describe('gatehouse backup / restore (compiled CLI)', () => {
  it('restores a running hub onto a new data dir: same decisions for card, PIN, daily code and mobile key', async () => {
    const oldDir = newDir();
    const building = setUp(oldDir);
    const oldHub = await startHub(oldDir, HUB_CONFIG);
    hubs.push(oldHub);
    const before = await decisions(oldHub, building);
    expect(before).toEqual({
      card: 'granted',
      unknownCard: 'unknown_credential',
      pin: 'granted',
      code: 'granted',
      mobile: 'granted',
    });

    // Backup while the hub runs, passphrase on stdin (as a script would pipe it).
    const stick = newDir();
    const file = path.join(stick, 'gatehouse.ghbackup');
    const backup = await cli(oldDir, ['backup', file], `${PASS}\n`);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(/encrypted backup written to .*gatehouse\.ghbackup/);
    expect(readdirSync(stick)).toEqual(['gatehouse.ghbackup']); // ONE file, no .key files beside it
    const bytes = readFileSync(file);
    for (const key of ['hub.key', 'code.key']) {
      expect(bytes.includes(Buffer.from(readFileSync(path.join(oldDir, key), 'utf8').trim()))).toBe(false);
    }

    // The file can be checked while the hub runs (nothing changes); a restore is refused.
    const check = await cli(oldDir, ['restore', file, '--check'], `${PASS}\n`);
    expect(check.stdout).toMatch(/^backup OK: hub hub_[0-9a-f]+ as of .*every byte verified/);
    // Restore refuses while the hub runs, and changes nothing.
    const running = await cli(oldDir, ['restore', file], `${PASS}\n`);
    expect(running.code).toBe(1);
    expect(running.stderr).toMatch(/the hub is running: stop it first/);
    const caBefore = readFileSync(path.join(oldDir, 'certs', 'ca.crt'));
    await oldHub.stop();
    hubs.splice(0);

    // A new SD card: a wrong passphrase changes nothing, the right one brings everything back.
    const newCard = newDir();
    const wrong = await cli(newCard, ['restore', file], 'not the passphrase at all\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/wrong passphrase .*nothing was changed/);
    expect(readdirSync(newCard)).toEqual([]);
    const restore = await cli(newCard, ['restore', file], `${PASS}\n`);
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(restore.stdout).toMatch(/restored hub hub_[0-9a-f]+ as of .*Start the hub again/);
    expect(readFileSync(path.join(newCard, 'certs', 'ca.crt'))).toEqual(caBefore); // devices keep trusting it

    const newHub = await startHub(newCard, HUB_CONFIG);
    hubs.push(newHub);
    expect(await decisions(newHub, building)).toEqual(before);
  }, 300_000);

  it('takes the passphrase from a file or the environment, never from argv, and enforces its length', async () => {
    const dir = newDir();
    setUp(dir);
    const out = newDir();
    const file = path.join(out, 'b.ghbackup');

    const argv = await cli(dir, ['backup', file, '--passphrase', PASS]);
    expect(argv.code).toBe(1);
    expect(argv.stderr).toMatch(/never taken from the command line/);
    const short = await cli(dir, ['backup', file], 'too short\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/at least 12 characters \(got 9\)/);
    expect(existsSync(file)).toBe(false);

    const passFile = path.join(out, 'pass.txt');
    writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 });
    const fromFile = await cli(dir, ['--json', 'backup', file, '--passphrase-file', passFile]);
    expect(fromFile.stderr).toBe('');
    expect(JSON.parse(fromFile.stdout)).toMatchObject({ file, schemaVersion: SCHEMA_VERSION });

    // Restore with the same passphrase from the environment (scheduled jobs), into another dir.
    const target = newDir();
    const before = hashTree(target);
    const restored = await new Promise<{ code: number; stderr: string }>((resolve) => {
      process.env.GATEHOUSE_BACKUP_PASSPHRASE = PASS;
      cli(target, ['restore', file]).then(resolve);
      delete process.env.GATEHOUSE_BACKUP_PASSPHRASE;
    });
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(hashTree(target)).not.toEqual(before);
    expect(existsSync(path.join(target, 'gatehouse.db'))).toBe(true);

    // `credential list` shows the masked tail, never the UID (the database holds only its hash).
    const list = await cli(target, ['credential', 'list', '--person', 'ada']);
    expect(list.stdout).toContain('card …1C9F');
    const json = await cli(target, ['--json', 'credential', 'list']);
    for (const output of [list.stdout, json.stdout]) expect(output.toUpperCase()).not.toContain(CARD);
  }, 300_000);
});
