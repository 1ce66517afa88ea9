// Encrypted backups on real files: one file, every key inside, nothing readable without the
// passphrase, and a restore that changes nothing until the whole file has been verified.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
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
import { SCHEMA_VERSION } from '../../hub/store/migrations.js';
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
    expect(restored).toMatchObject({ hubId: id, schemaVersion: SCHEMA_VERSION });
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
    // Snapshots of backups: one killed a day ago (removed), one running now (kept).
    writeFileSync(join(dataDir, '.gatehouse.db.tmp-1-old'), 'x');
    utimesSync(
      join(dataDir, '.gatehouse.db.tmp-1-old'),
      new Date(Date.now() - 86_400_000),
      new Date(Date.now() - 86_400_000),
    );
    writeFileSync(join(dataDir, '.gatehouse.db.tmp-2-new'), 'x');
    finishPendingRestore(dataDir);
    expect(existsSync(join(dataDir, '.gatehouse.db.tmp-1-old'))).toBe(false);
    expect(existsSync(join(dataDir, '.gatehouse.db.tmp-2-new'))).toBe(true);
    rmSync(join(dataDir, '.gatehouse.db.tmp-2-new'));
    const now = hashTree(dataDir);
    for (const [name, hash] of Object.entries(wanted)) expect(now[name], name).toBe(hash);
    expect(readdirSync(dataDir).filter((n) => n.startsWith('.restore'))).toEqual([]);
    expect(existsSync(join(dataDir, 'restore-previous-test', 'gatehouse.db'))).toBe(true);
  });
});

// An independent reader and writer of the format exactly as docs/data.md describes it: proves the
// document is byte-exact, and builds hostile archives the real writer never would.
describe('the documented file format', () => {
  let dataDir: string;
  let work: string;
  beforeEach(() => {
    dataDir = tempDataDir();
    work = tempDataDir();
  });
  afterEach(() => {
    removeDir(dataDir);
    removeDir(work);
  });

  const S = 65536;
  function keysFor(passphrase: string, header: Buffer): { enc: Buffer; check: Buffer } {
    const key = scryptSync(Buffer.from(passphrase.normalize('NFC')), header.subarray(20, 36), 64, {
      N: 2 ** header[10]!,
      r: header[11]!,
      p: header[12]!,
      maxmem: 512 * 1024 * 1024,
    });
    return { enc: key.subarray(0, 32), check: key.subarray(32) };
  }
  function decode(file: Buffer, passphrase: string): Array<{ name: string; mode: number; data: Buffer }> {
    const header = file.subarray(0, 60);
    const { enc } = keysFor(passphrase, header);
    const plain: Buffer[] = [];
    for (let i = 0, at = 60; at < file.length; i++) {
      const size = Math.min(S + 16, file.length - at);
      const last = at + size === file.length;
      const nonce = Buffer.concat([header.subarray(36, 44), Buffer.from([0, 0, 0, 0])]);
      nonce.writeUInt32BE(i, 8);
      const d = createDecipheriv('aes-256-gcm', enc, nonce);
      d.setAAD(Buffer.concat([header, Buffer.from([last ? 1 : 0])]));
      d.setAuthTag(file.subarray(at + size - 16, at + size));
      plain.push(d.update(file.subarray(at, at + size - 16)), d.final());
      at += size;
    }
    const all = Buffer.concat(plain);
    const entries: Array<{ name: string; mode: number; data: Buffer }> = [];
    let at = 0;
    while (all[at] === 1) {
      const nameLength = all.readUInt16BE(at + 1);
      const name = all.subarray(at + 3, at + 3 + nameLength).toString('utf8');
      const size = Number(all.readBigUInt64BE(at + 3 + nameLength));
      const mode = all.readUInt32BE(at + 11 + nameLength);
      const start = at + 15 + nameLength;
      entries.push({ name, mode, data: all.subarray(start, start + size) });
      at = start + size;
    }
    expect(all[at]).toBe(0);
    expect(all.readUInt32BE(at + 1)).toBe(entries.length);
    expect(all.length).toBe(at + 5);
    return entries;
  }
  function encode(entries: Array<{ name: string; mode: number; data: Buffer }>, passphrase: string): Buffer {
    const header = Buffer.alloc(60);
    header.write('GHBACKUP', 0, 'ascii');
    header.set([1, 1, 14, 8, 1, 1], 8);
    header.writeUInt32BE(S, 16);
    randomBytes(24).copy(header, 20);
    const { enc, check } = keysFor(passphrase, header);
    createHmac('sha256', check).update(header.subarray(0, 44)).digest().copy(header, 44, 0, 16);
    const parts: Buffer[] = [];
    for (const e of entries) {
      const name = Buffer.from(e.name);
      const head = Buffer.alloc(15 + name.length);
      head[0] = 1;
      head.writeUInt16BE(name.length, 1);
      name.copy(head, 3);
      head.writeBigUInt64BE(BigInt(e.data.length), 3 + name.length);
      head.writeUInt32BE(e.mode, 11 + name.length);
      parts.push(head, e.data);
    }
    const end = Buffer.alloc(5);
    end.writeUInt32BE(entries.length, 1);
    parts.push(end);
    const plain = Buffer.concat(parts);
    const out: Buffer[] = [header];
    const records = Math.floor(plain.length / S) + 1; // the last always holds fewer than S bytes
    for (let i = 0; i < records; i++) {
      const nonce = Buffer.alloc(12);
      header.copy(nonce, 0, 36, 44);
      nonce.writeUInt32BE(i, 8);
      const c = createCipheriv('aes-256-gcm', enc, nonce);
      c.setAAD(Buffer.concat([header, Buffer.from([i === records - 1 ? 1 : 0])]));
      out.push(c.update(plain.subarray(i * S, (i + 1) * S)), c.final(), c.getAuthTag());
    }
    return Buffer.concat(out);
  }

  it('reads a real backup, and a backup written from the document restores', async () => {
    const opened = openHubStore(dataDir);
    opened.store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    opened.store.credentials.addCard('alice', CARD, { id: 'card-1' });
    opened.store.kv.set('test.padding', randomBytes(100_000).toString('hex')); // several records
    CodeSecret.loadOrCreate(dataDir);
    const file = join(work, 'real.ghbackup');
    await createBackup({ file, passphrase: PASSPHRASE, dataDir, db: opened.db, kdf: FAST_KDF });
    opened.close();
    const entries = decode(readFileSync(file), PASSPHRASE);
    expect(entries.map((e) => e.name)).toEqual(['manifest.json', 'gatehouse.db', 'hub.key', 'code.key']);
    expect(entries[2]!.data).toEqual(readFileSync(join(dataDir, 'hub.key')));
    expect(entries[2]!.mode).toBe(0o600);

    const rewritten = join(work, 'rewritten.ghbackup');
    writeFileSync(rewritten, encode(entries, PASSPHRASE));
    const target = join(work, 'target');
    const restored = await restoreBackup({ file: rewritten, passphrase: PASSPHRASE, dataDir: target });
    expect(restored.files.sort()).toEqual(['code.key', 'gatehouse.db', 'hub.key']);
    const again = openHubStore(target);
    expect(again.store.credentials.find('card', CARD)?.credential.id).toBe('card-1');
    again.close();

    // Hostile archives: a path out of the data dir, an unknown file, a missing hub key.
    const before = hashTree(target);
    const hostileEntries: Array<[string, RegExp, Buffer?]> = [
      ['../escaped', /unexpected entry \("\.\.\/escaped"\)/],
      ['certs/../../escaped', /unexpected entry/],
      ['/etc/passwd', /unexpected entry/],
      ['config.yaml', /unexpected entry/],
      // Node-RED's folder: only plain names under node-red/, never out of it, never its packages.
      ['node-red/../gatehouse.db', /unexpected entry/],
      ['node-red/lib/../../../escaped', /unexpected entry/],
      ['node-red', /unexpected entry/],
      ['node-red//flows.json', /unexpected entry/],
      ['node-red/node_modules/evil/index.js', /unexpected entry/],
      ['node-red/flows\n.json', /unexpected entry/],
      ['config.yml', /unexpected entry/, Buffer.alloc(1024 * 1024 + 1, 0x61)], // over the config limit
    ];
    for (const [name, expected, data = Buffer.from('x')] of hostileEntries) {
      const hostile = join(work, 'hostile.ghbackup');
      writeFileSync(hostile, encode([...entries, { name, mode: 0o644, data }], PASSPHRASE));
      await expect(restoreBackup({ file: hostile, passphrase: PASSPHRASE, dataDir: target })).rejects.toThrow(
        expected,
      );
      expect(hashTree(target)).toEqual(before);
    }
    const noKey = join(work, 'no-key.ghbackup');
    writeFileSync(
      noKey,
      encode(
        entries.filter((e) => e.name !== 'hub.key'),
        PASSPHRASE,
      ),
    );
    await expect(restoreBackup({ file: noKey, passphrase: PASSPHRASE, dataDir: target })).rejects.toThrow(
      'the backup does not contain hub.key',
    );
    const badKey = join(work, 'bad-key.ghbackup');
    writeFileSync(
      badKey,
      encode(
        entries.map((e) => (e.name === 'hub.key' ? { ...e, data: Buffer.from('not a key\n') } : e)),
        PASSPHRASE,
      ),
    );
    await expect(restoreBackup({ file: badKey, passphrase: PASSPHRASE, dataDir: target })).rejects.toThrow(
      'hub.key in the backup is not a valid key',
    );
    expect(hashTree(target)).toEqual(before);
    expect(readdirSync(target).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});
