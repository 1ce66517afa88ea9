// Encrypted backups on real files: one file, every key inside, nothing readable without the
// passphrase, and a restore that changes nothing until the whole file has been verified.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IssuerKey } from '../../hub/mobile/issuer.js';
import { CodeSecret } from '../../hub/offline/secret.js';
import { type OpenedStore, openHubStore } from '../../hub/open-store.js';
import { ensureCertificates } from '../../hub/pki/certificates.js';
import {
  BackupError,
  createBackup,
  finishPendingRestore,
  inspectBackup,
  restoreBackup,
} from '../../hub/store/backup.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';
import { hashTree } from './helpers.js';

const PASSPHRASE = 'correct horse battery staple';
const CARD = '04A1B2C3D4E5F6';
/** Cheaper scrypt for the many refusal cases (the header carries it; the defaults are tested above). */
const FAST_KDF = { log2N: 14, r: 8, p: 1 };

/** Every secret file of a data dir, as bytes, to look for in a backup. */
function secretsOf(dataDir: string): Buffer[] {
  const hubKey = readFileSync(join(dataDir, 'hub.key'), 'utf8').trim();
  const codeKey = readFileSync(join(dataDir, 'code.key'), 'utf8').trim();
  const issuer = readFileSync(join(dataDir, 'mobile-issuer.key'), 'utf8');
  const ca = readFileSync(join(dataDir, 'certs', 'ca.key'), 'utf8');
  const pemBody = (pem: string) => pem.split('\n')[1]!; // a line of base64 key material
  return [
    Buffer.from(hubKey),
    Buffer.from(hubKey, 'hex'),
    Buffer.from(codeKey),
    Buffer.from(codeKey, 'hex'),
    Buffer.from(pemBody(issuer)),
    Buffer.from(pemBody(ca)),
    Buffer.from('PRIVATE KEY'),
    Buffer.from('SQLite format 3'),
    Buffer.from('Alice Example'),
  ];
}

describe('encrypted backup and restore', () => {
  let dataDir: string;
  let work: string;
  let opened: OpenedStore | null;

  async function building(): Promise<void> {
    opened = openHubStore(dataDir);
    const { store } = opened;
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    store.people.add({ id: 'alice', name: 'Alice Example', kind: 'resident' });
    store.credentials.addPin('alice', '55667788', { id: 'pin-1' });
    store.credentials.addCard('alice', CARD, { id: 'card-1' });
    store.devices.add('front-ctl', { role: 'door', doors: ['front'] });
    CodeSecret.loadOrCreate(dataDir);
    IssuerKey.loadOrCreate(dataDir);
    await ensureCertificates(join(dataDir, 'certs'), { hostnames: ['gatehouse.local'], ips: [] });
    store.events.flush();
  }

  function close(): void {
    opened?.close();
    opened = null;
  }

  beforeEach(async () => {
    dataDir = tempDataDir();
    work = tempDataDir();
    await building();
  });
  afterEach(() => {
    close();
    removeDir(dataDir);
    removeDir(work);
  });

  it('round-trips the database and every key in ONE file; a later change is undone by the restore', async () => {
    const file = join(work, 'stick', 'gatehouse.ghbackup');
    const result = await createBackup({ file, passphrase: PASSPHRASE, dataDir, db: opened!.db });
    expect(result.files.sort()).toEqual(
      [
        'gatehouse.db',
        'hub.key',
        'code.key',
        'mobile-issuer.key',
        'certs/ca.crt',
        'certs/ca.key',
        'certs/server.crt',
        'certs/server.key',
      ].sort(),
    );
    expect(readdirSync(join(work, 'stick'))).toEqual(['gatehouse.ghbackup']); // one file, no temp left
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dataDir).filter((n) => n.includes('tmp'))).toEqual([]); // snapshot removed

    // What the hub had at backup time (the database compared by content below).
    close();
    const before = hashTree(dataDir);
    const hubId = openHubStore(dataDir);
    const id = hubId.store.hubId();
    hubId.store.people.add({ id: 'bob', name: 'Bob', kind: 'guest' });
    hubId.store.credentials.revoke('card-1', 'after the backup');
    hubId.close();
    // The keys are lost or replaced too (a new SD card).
    writeFileSync(join(dataDir, 'code.key'), `${'ab'.repeat(32)}\n`);

    const restored = await restoreBackup({ file, passphrase: PASSPHRASE, dataDir });
    expect(restored).toMatchObject({ hubId: id, schemaVersion: 2 });
    expect(restored.previous).not.toBeNull();
    expect(readFileSync(join(restored.previous!, 'code.key'), 'utf8')).toBe(`${'ab'.repeat(32)}\n`);
    const after = hashTree(dataDir);
    for (const name of ['hub.key', 'code.key', 'mobile-issuer.key', 'certs/ca.key', 'certs/server.crt']) {
      expect(after[name], name).toBe(before[name]);
    }
    expect(statSync(join(dataDir, 'hub.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'certs', 'ca.crt')).mode & 0o777).toBe(0o644);

    opened = openHubStore(dataDir);
    const { store } = opened;
    expect(store.people.get('bob')).toBeNull();
    expect(store.credentials.find('card', CARD)?.credential).toMatchObject({ id: 'card-1', revokedAt: null });
    expect(store.credentials.find('pin', '55667788')?.person.id).toBe('alice');
    expect(store.events.verify().ok).toBe(true);
  });

  it('restores into an empty data dir (a new SD card) and keeps nothing aside', async () => {
    const file = join(work, 'b.ghbackup');
    await createBackup({ file, passphrase: PASSPHRASE, dataDir, db: opened!.db });
    const fresh = join(work, 'new-hub');
    const restored = await restoreBackup({ file, passphrase: PASSPHRASE, dataDir: fresh });
    expect(restored.previous).toBeNull();
    expect(readdirSync(fresh).sort()).toEqual(
      ['certs', 'code.key', 'gatehouse.db', 'hub.key', 'mobile-issuer.key'].sort(),
    );
    const inspected = await inspectBackup({ file, passphrase: PASSPHRASE });
    expect(inspected.manifest.hubId).toBe(restored.hubId);
    const other = openHubStore(fresh);
    expect(other.store.credentials.find('card', CARD)?.person.id).toBe('alice');
    other.close();
  });

  it('holds no key, card UID, name or database page in clear', async () => {
    const file = join(work, 'b.ghbackup');
    await createBackup({ file, passphrase: PASSPHRASE, dataDir, db: opened!.db });
    const bytes = readFileSync(file);
    for (const secret of secretsOf(dataDir)) {
      expect(bytes.includes(secret), secret.toString('utf8').slice(0, 20)).toBe(false);
    }
    expect(bytes.includes(Buffer.from(CARD))).toBe(false);
    expect(bytes.includes(Buffer.from(CARD, 'hex'))).toBe(false);
    expect(bytes.subarray(0, 8).toString()).toBe('GHBACKUP');
    expect([...bytes.subarray(8, 14)]).toEqual([1, 1, 17, 8, 1, 1]); // version, scrypt N=2^17 r=8 p=1, AES-GCM
  });

  it('refuses a passphrase that is too short before writing anything', async () => {
    const file = join(work, 'b.ghbackup');
    await expect(createBackup({ file, passphrase: 'short pass', dataDir })).rejects.toThrow(
      /at least 12 characters \(got 10\)/,
    );
    expect(existsSync(file)).toBe(false);
  });

  describe('a bad file is refused with a clear message and the data dir is unchanged', () => {
    let file: string;
    let good: Buffer;
    let before: Record<string, string>;
    beforeEach(async () => {
      file = join(work, 'b.ghbackup');
      // Enough records (64 KiB each) that "a middle record" exists.
      opened!.store.kv.set('test.padding', randomBytes(150_000).toString('hex'));
      await createBackup({ file, passphrase: PASSPHRASE, dataDir, db: opened!.db, kdf: FAST_KDF });
      good = readFileSync(file);
      close();
      before = hashTree(dataDir);
    });

    async function refused(bytes: Buffer, passphrase: string, message: RegExp, code: string): Promise<void> {
      writeFileSync(file, bytes);
      const err = await restoreBackup({ file, passphrase, dataDir }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).message).toMatch(message);
      expect((err as BackupError).code).toBe(code);
      expect(hashTree(dataDir)).toEqual(before);
    }

    function flipped(offset: number): Buffer {
      const copy = Buffer.from(good);
      copy[offset]! ^= 0x01;
      return copy;
    }

    it('a wrong passphrase', async () => {
      await refused(good, 'not the right passphrase', /wrong passphrase/, 'wrong_passphrase');
    });

    it('a flipped byte anywhere: header fields, first, middle and last record, a tag', async () => {
      expect(good.length).toBeGreaterThan(3 * 65552);
      await refused(flipped(0), PASSPHRASE, /not a Gatehouse backup/, 'not_a_backup');
      await refused(flipped(8), PASSPHRASE, /format version 0 is not supported/, 'unsupported_version');
      await refused(flipped(10), PASSPHRASE, /wrong passphrase/, 'wrong_passphrase'); // N = 2^15
      await refused(
        flipped(25),
        PASSPHRASE,
        /wrong passphrase \(or the backup header is damaged\)/,
        'wrong_passphrase',
      );
      await refused(flipped(40), PASSPHRASE, /wrong passphrase/, 'wrong_passphrase');
      await refused(flipped(50), PASSPHRASE, /wrong passphrase/, 'wrong_passphrase');
      await refused(flipped(60), PASSPHRASE, /damaged or was altered: record 0/, 'damaged');
      await refused(flipped(60 + 65552 + 100), PASSPHRASE, /record 1 \(at byte 65612\)/, 'damaged');
      await refused(flipped(60 + 65552 - 1), PASSPHRASE, /record 0/, 'damaged'); // record 0's tag
      await refused(flipped(good.length - 1), PASSPHRASE, /last record/, 'truncated');
    });

    it('a truncated file, at a record boundary or inside one', async () => {
      await refused(good.subarray(0, good.length - 1), PASSPHRASE, /truncated/, 'truncated');
      await refused(good.subarray(0, 60 + 2 * 65552), PASSPHRASE, /truncated/, 'truncated');
      await refused(good.subarray(0, 60 + 2 * 65552 + 16), PASSPHRASE, /truncated/, 'truncated');
      await refused(good.subarray(0, 61), PASSPHRASE, /truncated/, 'truncated');
      await refused(good.subarray(0, 30), PASSPHRASE, /truncated/, 'truncated');
      await refused(Buffer.alloc(0), PASSPHRASE, /not a Gatehouse backup/, 'not_a_backup');
    });

    it('records swapped, or one appended: the order and the end are authenticated', async () => {
      const r1 = good.subarray(60 + 65552, 60 + 2 * 65552);
      const r2 = good.subarray(60 + 2 * 65552, 60 + 3 * 65552);
      const swapped = Buffer.concat([good.subarray(0, 60 + 65552), r2, r1, good.subarray(60 + 3 * 65552)]);
      await refused(swapped, PASSPHRASE, /record 1/, 'damaged');
      await refused(Buffer.concat([good, r1]), PASSPHRASE, /damaged|truncated/, 'damaged');
    });

    it('another magic, another format version, an old unencrypted copy', async () => {
      const magic = Buffer.from(good);
      magic.write('NOTABACK', 0, 'ascii');
      await refused(magic, PASSPHRASE, /not a Gatehouse backup file/, 'not_a_backup');
      const version = Buffer.from(good);
      version[8] = 2;
      await refused(
        version,
        PASSPHRASE,
        /backup format version 2 is not supported; this Gatehouse reads version 1/,
        'unsupported_version',
      );
      const hostileKdf = Buffer.from(good);
      hostileKdf[10] = 30; // N = 2^30: would need 128 GiB
      await refused(hostileKdf, PASSPHRASE, /outside what this Gatehouse accepts/, 'invalid');
      await refused(
        readFileSync(join(dataDir, 'gatehouse.db')),
        PASSPHRASE,
        /unencrypted database copy/,
        'not_a_backup',
      );
    });
  });

  it('a restore cut after its commit point completes on the next open', async () => {
    const file = join(work, 'b.ghbackup');
    await createBackup({ file, passphrase: PASSPHRASE, dataDir, db: opened!.db, kdf: FAST_KDF });
    close();
    const fresh = join(work, 'restored');
    await restoreBackup({ file, passphrase: PASSPHRASE, dataDir: fresh });
    const wanted = hashTree(fresh);
    // Build the state a power cut leaves: the commit dir holds the new files, the old ones still in place.
    const commit = join(dataDir, '.restore-commit');
    mkdirSync(join(commit, 'certs'), { recursive: true });
    for (const name of Object.keys(wanted))
      writeFileSync(join(commit, name), readFileSync(join(fresh, name)));
    writeFileSync(
      join(commit, 'files.json'),
      JSON.stringify(['gatehouse.db', 'hub.key', 'code.key', 'mobile-issuer.key', 'certs']),
    );
    writeFileSync(join(commit, 'previous'), 'restore-previous-test');
    mkdirSync(join(dataDir, '.restore-staging-1-dead'));
    finishPendingRestore(dataDir);
    const now = hashTree(dataDir);
    for (const [name, hash] of Object.entries(wanted)) expect(now[name], name).toBe(hash);
    expect(readdirSync(dataDir).filter((n) => n.startsWith('.restore'))).toEqual([]);
    expect(existsSync(join(dataDir, 'restore-previous-test', 'gatehouse.db'))).toBe(true);
  });
});
