// Encrypted backups: ONE file with a consistent database snapshot and every key file a restore needs,
// sealed with a key derived from a passphrase. Nothing in it is readable or changeable without the
// passphrase. The byte layout is in docs/data.md ("Backup file format"); keep the two in step.
//
//   header (60 bytes) | record 0 | record 1 | … | last record
//   record = AES-256-GCM(plaintext chunk) || 16-byte tag; every record but the last holds exactly
//   `chunkSize` plaintext bytes, the last holds fewer (possibly 0), so a cut file is always detected.
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Database } from 'better-sqlite3';
import BetterSqlite3 from 'better-sqlite3';
import { DB_FILE_NAME } from './db.js';
import { StoreError } from './errors.js';
import { verifyEventChain } from './events.js';
import { KEY_FILE_NAME, syncDir } from './keys.js';
import { APPLICATION_ID, SCHEMA_VERSION } from './migrations.js';

// The key files beside the database (hub/offline/secret.ts, hub/mobile/issuer.ts, hub/pki): named
// here rather than imported so the store does not depend on the parts that create them.
const CODE_KEY_FILE = 'code.key';
const ISSUER_KEY_FILE = 'mobile-issuer.key';
const CERTS_DIR = 'certs';
const JOURNAL_FILE = 'events.journal';
const MANIFEST = 'manifest.json';
/** Node-RED's user dir (the installer's flows, their encrypted credentials): `node-red/...` in the archive. */
export const NODE_RED_DIR = 'node-red';
/** Not backed up: installed palette packages (reinstalled from the editor) and the settings the hub writes at every start. */
const NODE_RED_LEFT_OUT = new Set(['node_modules', 'gatehouse-settings.cjs']);
/** Flows and their credentials are kilobytes; beyond this the folder holds something else and is left out. */
export const MAX_NODE_RED_BYTES = 64 * 1024 * 1024;
const MAX_NODE_RED_FILES = 5000;
/** The config file the hub ran with, in the archive. */
const CONFIG_ENTRY = 'config.yml';
/** Where restore puts it: beside the data, never over the config file in use (docs/replace-a-hub.md). */
export const RESTORED_CONFIG_FILE = 'config-from-backup.yml';
/** A config file is a few KiB; a larger one is left out of the backup. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export const BACKUP_MAGIC = Buffer.from('GHBACKUP', 'ascii');
export const BACKUP_FORMAT_VERSION = 1;
const KDF_SCRYPT = 1;
const CIPHER_AES_256_GCM = 1;
const HEADER_BYTES = 60;
const CHECK_OFFSET = 44;
const TAG_BYTES = 16;
/** Plaintext bytes per record: memory stays ~2 records whatever the database size. */
const CHUNK_BYTES = 64 * 1024;
/** scrypt N=2^17, r=8, p=1: 128 MiB and ~0.6 s here (a few s on a Pi); fits a 1 GB Pi beside the hub. */
export const DEFAULT_KDF = { log2N: 17, r: 8, p: 1 } as const;
/** What a backup header may ask for: a hostile file must not make restore allocate more than 256 MiB. */
const MAX_KDF_MEMORY = 256 * 1024 * 1024;
/** Against offline guessing of a lost file: with scrypt at this cost, a few random words are out of reach. */
export const MIN_PASSPHRASE_CHARS = 12;
/** Longer is a pasted file by mistake, not a passphrase. */
const MAX_PASSPHRASE_CHARS = 1024;
/** File names in the archive are short known names; this bounds what a hostile file can make us read. */
const MAX_ENTRY_NAME = 255;
/** Beyond any real hub (a 2,000,000-credential database is ~1 GB): bounds what a hostile file can claim. */
const MAX_ENTRY_BYTES = 64 * 1024 ** 3;
/** A real backup has under a dozen entries (certs included). */
const MAX_ENTRIES = 1000;
/** The manifest is read into memory; a real one is ~150 bytes. */
const MAX_MANIFEST_BYTES = 64 * 1024;

export type BackupErrorCode =
  | 'weak_passphrase'
  | 'not_a_backup'
  | 'unsupported_version'
  | 'wrong_passphrase'
  | 'damaged'
  | 'truncated'
  | 'invalid';

/** A backup that cannot be made or restored; `message` is meant for the operator. */
export class BackupError extends Error {
  override name = 'BackupError';
  readonly code: BackupErrorCode;
  constructor(code: BackupErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface KdfParams {
  log2N: number;
  r: number;
  p: number;
}

export interface BackupOptions {
  /** Where to write the backup (written to a temp name beside it, then renamed). */
  file: string;
  passphrase: string;
  /** The hub's data directory (key files, certs). */
  dataDir: string;
  /** An open connection to the live database (the hub's or the CLI's); opened here when absent. */
  db?: Database;
  /** For tests of old/odd headers only; the default is what the docs promise. */
  kdf?: KdfParams;
  /** The config file the hub runs with (null or absent: none to keep). */
  configFile?: string | null;
}

export interface BackupResult {
  file: string;
  hubId: string;
  schemaVersion: number;
  events: number;
  /** Files inside the backup, as restore will put them back (relative to the data dir). */
  files: string[];
  bytes: number;
  /** What was left out and why (too large, unreadable): the backup is still good for the rest. */
  skipped: string[];
}

export interface RestoreOptions {
  file: string;
  passphrase: string;
  dataDir: string;
  /** Keep what was replaced in <dataDir>/restore-previous-<time>/ (default true). */
  keepPrevious?: boolean;
}

export interface RestoreResult {
  hubId: string;
  schemaVersion: number;
  /** Events in the restored log, all verified. */
  events: number;
  createdAt: string;
  files: string[];
  /** Where the replaced files were moved, if kept. */
  previous: string | null;
  /** The config file the old hub ran with, put beside the data (never applied), or null. */
  restoredConfig: string | null;
}

interface Manifest {
  format: 1;
  hubId: string;
  createdAt: string;
  schemaVersion: number;
  events: number;
}

/** Checks a passphrase before any work: NFC-normalised, 12 to 1024 characters. */
export function checkPassphrase(passphrase: unknown): Buffer {
  if (typeof passphrase !== 'string') throw new BackupError('weak_passphrase', 'a passphrase is required');
  const text = passphrase.normalize('NFC');
  const chars = [...text].length;
  if (chars < MIN_PASSPHRASE_CHARS) {
    throw new BackupError(
      'weak_passphrase',
      `the backup passphrase must be at least ${MIN_PASSPHRASE_CHARS} characters (got ${chars}); ` +
        'a few unrelated words are easy to remember and hard to guess',
    );
  }
  if (chars > MAX_PASSPHRASE_CHARS)
    throw new BackupError(
      'weak_passphrase',
      `the backup passphrase must be at most ${MAX_PASSPHRASE_CHARS} characters`,
    );
  return Buffer.from(text, 'utf8');
}

// --- header and keys

interface Header {
  bytes: Buffer;
  kdf: KdfParams;
  chunkBytes: number;
  salt: Buffer;
  noncePrefix: Buffer;
  check: Buffer;
}

function kdfMemory(kdf: KdfParams): number {
  return 128 * 2 ** kdf.log2N * kdf.r;
}

function checkKdf(kdf: KdfParams): void {
  const ok =
    Number.isInteger(kdf.log2N) &&
    kdf.log2N >= 10 &&
    kdf.log2N <= 20 &&
    Number.isInteger(kdf.r) &&
    kdf.r >= 1 &&
    kdf.r <= 32 &&
    Number.isInteger(kdf.p) &&
    kdf.p >= 1 &&
    kdf.p <= 4 &&
    kdfMemory(kdf) <= MAX_KDF_MEMORY;
  if (!ok) {
    throw new BackupError(
      'invalid',
      `backup header asks for scrypt N=2^${kdf.log2N}, r=${kdf.r}, p=${kdf.p}: outside what this Gatehouse accepts`,
    );
  }
}

function deriveKeys(passphrase: Buffer, header: Header): Promise<{ enc: Buffer; check: Buffer }> {
  const { log2N, r, p } = header.kdf;
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase,
      header.salt,
      64,
      { N: 2 ** log2N, r, p, maxmem: kdfMemory(header.kdf) + 16 * 1024 * 1024 },
      (err, key) => {
        if (err) reject(new BackupError('invalid', `cannot derive the backup key: ${err.message}`));
        else resolve({ enc: key.subarray(0, 32), check: key.subarray(32, 64) });
      },
    );
  });
}

function keyCheck(checkKey: Buffer, headerBytes: Buffer): Buffer {
  return createHmac('sha256', checkKey)
    .update(headerBytes.subarray(0, CHECK_OFFSET))
    .digest()
    .subarray(0, TAG_BYTES);
}

function buildHeader(kdf: KdfParams): Header {
  const bytes = Buffer.alloc(HEADER_BYTES);
  BACKUP_MAGIC.copy(bytes, 0);
  bytes[8] = BACKUP_FORMAT_VERSION;
  bytes[9] = KDF_SCRYPT;
  bytes[10] = kdf.log2N;
  bytes[11] = kdf.r;
  bytes[12] = kdf.p;
  bytes[13] = CIPHER_AES_256_GCM;
  bytes.writeUInt32BE(CHUNK_BYTES, 16);
  const salt = randomBytes(16);
  const noncePrefix = randomBytes(8);
  salt.copy(bytes, 20);
  noncePrefix.copy(bytes, 36);
  return { bytes, kdf, chunkBytes: CHUNK_BYTES, salt, noncePrefix, check: bytes.subarray(CHECK_OFFSET) };
}

function parseHeader(bytes: Buffer, fileSize: number): Header {
  if (bytes.length >= 16 && bytes.subarray(0, 16).toString('latin1') === 'SQLite format 3\0') {
    throw new BackupError(
      'not_a_backup',
      'this is an unencrypted database copy from an older Gatehouse, not an encrypted backup; ' +
        'see docs/data.md ("Backups made before version 2") to bring it back',
    );
  }
  if (bytes.length < BACKUP_MAGIC.length || !bytes.subarray(0, 8).equals(BACKUP_MAGIC)) {
    throw new BackupError('not_a_backup', 'not a Gatehouse backup file (it does not start with GHBACKUP)');
  }
  if (bytes.length < HEADER_BYTES)
    throw new BackupError('truncated', 'the backup file is truncated (incomplete header)');
  if (bytes[8] !== BACKUP_FORMAT_VERSION) {
    throw new BackupError(
      'unsupported_version',
      `backup format version ${bytes[8]} is not supported; this Gatehouse reads version ${BACKUP_FORMAT_VERSION}`,
    );
  }
  if (bytes[9] !== KDF_SCRYPT || bytes[13] !== CIPHER_AES_256_GCM || bytes[14] !== 0 || bytes[15] !== 0) {
    throw new BackupError(
      'unsupported_version',
      'backup header names a key derivation or cipher this Gatehouse does not know',
    );
  }
  const kdf = { log2N: bytes[10]!, r: bytes[11]!, p: bytes[12]! };
  checkKdf(kdf);
  const chunkBytes = bytes.readUInt32BE(16);
  if (chunkBytes < 4096 || chunkBytes > 4 * 1024 * 1024) {
    throw new BackupError('invalid', `backup header has an impossible record size (${chunkBytes})`);
  }
  if (fileSize < HEADER_BYTES + TAG_BYTES)
    throw new BackupError('truncated', 'the backup file is truncated (no data after the header)');
  return {
    bytes: Buffer.from(bytes.subarray(0, HEADER_BYTES)),
    kdf,
    chunkBytes,
    salt: Buffer.from(bytes.subarray(20, 36)),
    noncePrefix: Buffer.from(bytes.subarray(36, 44)),
    check: Buffer.from(bytes.subarray(CHECK_OFFSET, HEADER_BYTES)),
  };
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 8);
  return n;
}

/** The header (with its key check) and a last-record flag are authenticated with every record. */
function aad(header: Buffer, last: boolean): Buffer {
  return Buffer.concat([header, Buffer.from([last ? 1 : 0])]);
}

// --- sealing

class SealedWriter {
  readonly #fh: FileHandle;
  readonly #header: Header;
  readonly #key: Buffer;
  #pending: Buffer = Buffer.alloc(0);
  #index = 0;
  bytes = 0;

  constructor(fh: FileHandle, header: Header, key: Buffer) {
    this.#fh = fh;
    this.#header = header;
    this.#key = key;
  }

  async write(data: Buffer): Promise<void> {
    let rest = data;
    while (rest.length > 0) {
      const room = this.#header.chunkBytes - this.#pending.length;
      this.#pending = Buffer.concat([this.#pending, rest.subarray(0, room)]);
      rest = rest.subarray(room);
      // A full chunk is never the last one (the last always holds fewer bytes).
      if (this.#pending.length === this.#header.chunkBytes) await this.#seal(false);
    }
  }

  async finish(): Promise<void> {
    await this.#seal(true);
  }

  async #seal(last: boolean): Promise<void> {
    if (this.#index >= 2 ** 32) throw new BackupError('invalid', 'backup too large');
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce(this.#header.noncePrefix, this.#index));
    cipher.setAAD(aad(this.#header.bytes, last));
    const sealed = Buffer.concat([cipher.update(this.#pending), cipher.final(), cipher.getAuthTag()]);
    await this.#fh.write(sealed);
    this.bytes += sealed.length;
    this.#index++;
    this.#pending = Buffer.alloc(0);
  }
}

function entryHeader(name: string, size: number, mode: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const head = Buffer.alloc(1 + 2 + nameBytes.length + 8 + 4);
  head[0] = 1;
  head.writeUInt16BE(nameBytes.length, 1);
  nameBytes.copy(head, 3);
  head.writeBigUInt64BE(BigInt(size), 3 + nameBytes.length);
  head.writeUInt32BE(mode & 0o777, 11 + nameBytes.length);
  return head;
}

async function writeEntryFromFile(out: SealedWriter, name: string, source: string): Promise<void> {
  const fh = await open(source, 'r');
  try {
    const { size, mode } = await fh.stat();
    await out.write(entryHeader(name, size, mode));
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await fh.read(buffer, 0, Math.min(CHUNK_BYTES, size - done), done);
      if (bytesRead === 0) throw new BackupError('invalid', `${source} shrank while it was being backed up`);
      await out.write(buffer.subarray(0, bytesRead));
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** The files of the data dir that a restore needs, beside the database snapshot. */
function keyFilesOf(dataDir: string): Array<{ name: string; path: string }> {
  const files: Array<{ name: string; path: string }> = [];
  for (const name of [KEY_FILE_NAME, CODE_KEY_FILE, ISSUER_KEY_FILE]) {
    const path = join(dataDir, name);
    if (existsSync(path)) files.push({ name, path });
  }
  const certs = join(dataDir, CERTS_DIR);
  if (existsSync(certs)) {
    for (const name of readdirSync(certs).sort()) {
      const path = join(certs, name);
      if (isCertEntryName(name) && statSync(path).isFile())
        files.push({ name: `${CERTS_DIR}/${name}`, path });
    }
  }
  return files;
}

/**
 * The files of Node-RED's user dir, without installed packages and the generated settings. All or
 * nothing: over MAX_NODE_RED_BYTES (or files) the folder is left out and `skipped` says so, since
 * flows without their credentials file (or the reverse) would restore half an installation.
 */
function nodeRedFilesOf(dataDir: string, skipped: string[]): Array<{ name: string; path: string }> {
  const root = join(dataDir, NODE_RED_DIR);
  if (!existsSync(root)) return [];
  const files: Array<{ name: string; path: string }> = [];
  let bytes = 0;
  const walk = (dir: string, rel: string, depth: number): boolean => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const name = `${rel}/${entry.name}`;
      if (depth === 0 && NODE_RED_LEFT_OUT.has(entry.name)) continue;
      if (!isNodeRedEntryName(name)) {
        skipped.push(`${join(dir, entry.name)}: left out, a name (or depth) a backup does not hold`);
        continue;
      }
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!walk(path, name, depth + 1)) return false;
      } else if (entry.isFile()) {
        bytes += statSync(path).size;
        files.push({ name, path });
        if (bytes > MAX_NODE_RED_BYTES || files.length > MAX_NODE_RED_FILES) return false;
      }
    }
    return true;
  };
  if (!walk(root, NODE_RED_DIR, 0)) {
    skipped.push(
      `${root}: left out, larger than ${MAX_NODE_RED_BYTES / 1024 / 1024} MiB or ${MAX_NODE_RED_FILES} files (flows are kilobytes: look for large files in it)`,
    );
    return [];
  }
  return files;
}

function configFileOf(file: string | null, skipped: string[]): Array<{ name: string; path: string }> {
  if (file === null || !existsSync(file)) return [];
  const stat = statSync(file);
  if (!stat.isFile()) return [];
  if (stat.size > MAX_CONFIG_BYTES) {
    skipped.push(`${file}: left out, larger than ${MAX_CONFIG_BYTES / 1024} KiB`);
    return [];
  }
  return [{ name: CONFIG_ENTRY, path: file }];
}

/** `node-red/` then 1-8 plain path parts (no `.`, `..`, slashes or control characters). */
function isNodeRedEntryName(name: string): boolean {
  const parts = name.split('/');
  return (
    parts[0] === NODE_RED_DIR &&
    parts.length >= 2 &&
    parts.length <= 9 &&
    parts.slice(1).every((part) => /^[A-Za-z0-9._@+ -]{1,100}$/.test(part) && part !== '.' && part !== '..')
  );
}

function isCertEntryName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name);
}

function tempName(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

function removeSqliteFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
}

/**
 * Writes ONE encrypted backup of the live hub: a consistent snapshot of the database (SQLite's online
 * backup API: the hub keeps running) and every key file, sealed under the passphrase. The unencrypted
 * snapshot only ever exists inside the data dir; the target gets a temp file that is renamed into place.
 */
export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  const passphrase = checkPassphrase(options.passphrase);
  const kdf = options.kdf ?? DEFAULT_KDF;
  checkKdf(kdf);
  const hubKey = join(options.dataDir, KEY_FILE_NAME);
  if (!existsSync(hubKey)) throw new BackupError('invalid', `no hub key at ${hubKey}: nothing to back up`);
  const header = buildHeader(kdf);
  const keys = await deriveKeys(passphrase, header);
  keyCheck(keys.check, header.bytes).copy(header.bytes, CHECK_OFFSET);

  const snapshot = tempName(join(options.dataDir, DB_FILE_NAME));
  const target = tempName(options.file);
  const ownDb = options.db === undefined;
  const db = options.db ?? new BetterSqlite3(join(options.dataDir, DB_FILE_NAME), { fileMustExist: true });
  let out: FileHandle | null = null;
  try {
    if (ownDb) db.pragma('busy_timeout = 5000');
    await db.backup(snapshot);
    chmodSync(snapshot, 0o600);
    const manifest = describeSnapshot(snapshot);

    mkdirSync(dirname(options.file), { recursive: true });
    out = await open(target, 'wx', 0o600);
    await out.write(header.bytes);
    const writer = new SealedWriter(out, header, keys.enc);
    const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
    await writer.write(entryHeader(MANIFEST, manifestBytes.length, 0o600));
    await writer.write(manifestBytes);
    const skipped: string[] = [];
    const keyFiles = [
      ...keyFilesOf(options.dataDir),
      ...nodeRedFilesOf(options.dataDir, skipped),
      ...configFileOf(options.configFile ?? null, skipped),
    ];
    const files = [DB_FILE_NAME, ...keyFiles.map((f) => f.name)];
    await writeEntryFromFile(writer, DB_FILE_NAME, snapshot);
    for (const file of keyFiles) await writeEntryFromFile(writer, file.name, file.path);
    const end = Buffer.alloc(5);
    end.writeUInt32BE(files.length + 1, 1); // type 0, then the entry count (manifest included)
    await writer.write(end);
    await writer.finish();
    await out.sync();
    await out.close();
    out = null;
    renameSync(target, options.file);
    syncDir(dirname(options.file));
    return {
      file: options.file,
      hubId: manifest.hubId,
      schemaVersion: manifest.schemaVersion,
      events: manifest.events,
      files,
      bytes: HEADER_BYTES + writer.bytes,
      skipped,
    };
  } finally {
    if (out) await out.close().catch(() => {});
    rmSync(target, { force: true });
    removeSqliteFiles(snapshot);
    if (ownDb) db.close();
  }
}

function describeSnapshot(file: string): Manifest {
  const copy = new BetterSqlite3(file);
  try {
    copy.pragma('journal_mode = DELETE'); // one self-contained file: no -wal beside it
    const hubId = copy.prepare("SELECT value FROM kv WHERE key = 'hub.id'").pluck().get() as string;
    return {
      format: 1,
      hubId,
      createdAt: new Date().toISOString(),
      schemaVersion: copy.pragma('user_version', { simple: true }) as number,
      events: copy.prepare('SELECT count(*) FROM events').pluck().get() as number,
    };
  } finally {
    copy.close();
  }
}

// --- opening

/** Decrypts records one by one; throws a BackupError naming the first bad record. */
class SealedReader {
  readonly #fh: FileHandle;
  readonly #header: Header;
  readonly #key: Buffer;
  readonly #records: number;
  readonly #lastBytes: number;
  #index = 0;

  constructor(fh: FileHandle, header: Header, key: Buffer, fileSize: number) {
    this.#fh = fh;
    this.#header = header;
    this.#key = key;
    const body = fileSize - HEADER_BYTES;
    const full = header.chunkBytes + TAG_BYTES;
    const rest = body % full;
    if (rest < TAG_BYTES) {
      throw new BackupError(
        'truncated',
        'the backup file is truncated (it does not end with its last record)',
      );
    }
    this.#records = Math.floor(body / full) + 1;
    this.#lastBytes = rest;
  }

  /** The next plaintext chunk, or null after the last. */
  async next(): Promise<Buffer | null> {
    if (this.#index >= this.#records) return null;
    const last = this.#index === this.#records - 1;
    const size = last ? this.#lastBytes : this.#header.chunkBytes + TAG_BYTES;
    const offset = HEADER_BYTES + this.#index * (this.#header.chunkBytes + TAG_BYTES);
    const sealed = Buffer.alloc(size);
    const { bytesRead } = await this.#fh.read(sealed, 0, size, offset);
    if (bytesRead !== size)
      throw new BackupError('truncated', 'the backup file changed or was cut while it was read');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce(this.#header.noncePrefix, this.#index));
    decipher.setAAD(aad(this.#header.bytes, last));
    decipher.setAuthTag(sealed.subarray(size - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(sealed.subarray(0, size - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new BackupError(
        last ? 'truncated' : 'damaged',
        last
          ? `the backup file is damaged or truncated: its last record (at byte ${offset}) does not verify`
          : `the backup file is damaged or was altered: record ${this.#index} (at byte ${offset}) does not verify`,
      );
    }
    this.#index++;
    return plain;
  }
}

/** Byte-exact reads over the decrypted stream. */
class PlainStream {
  readonly #source: SealedReader;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;

  constructor(source: SealedReader) {
    this.#source = source;
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffer.length < n && !this.#ended) {
      const chunk = await this.#source.next();
      if (chunk === null) this.#ended = true;
      else this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    }
  }

  async read(n: number): Promise<Buffer> {
    await this.#fill(n);
    if (this.#buffer.length < n) throw new BackupError('damaged', 'the backup contents end unexpectedly');
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Up to `max` bytes (at least 1) of what is left. */
  async readSome(max: number): Promise<Buffer> {
    await this.#fill(1);
    if (this.#buffer.length === 0) throw new BackupError('damaged', 'the backup contents end unexpectedly');
    const out = this.#buffer.subarray(0, Math.min(max, this.#buffer.length));
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }

  async atEnd(): Promise<boolean> {
    await this.#fill(1);
    return this.#buffer.length === 0;
  }
}

/** Where an archive entry goes, relative to the data dir; null for names a backup never holds. */
function entryTarget(name: string): string | null {
  if ([MANIFEST, DB_FILE_NAME, KEY_FILE_NAME, CODE_KEY_FILE, ISSUER_KEY_FILE].includes(name)) return name;
  if (name === CONFIG_ENTRY) return RESTORED_CONFIG_FILE;
  if (isNodeRedEntryName(name) && !NODE_RED_LEFT_OUT.has(name.split('/')[1]!)) return name;
  const cert = /^certs\/(.+)$/.exec(name);
  if (cert && isCertEntryName(cert[1]!)) return name;
  return null;
}

interface Opened {
  manifest: Manifest;
  files: string[];
}

/**
 * Reads the whole backup, checking every record and the archive structure. With `into`, writes each
 * file there (mode 0600 for secrets, 0644 at most, fsynced); without, only verifies.
 */
type DerivedKeys = Map<string, { enc: Buffer; check: Buffer }>;

async function readBackup(
  file: string,
  passphrase: Buffer,
  into: string | null,
  derived: DerivedKeys = new Map(),
): Promise<Opened> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BackupError('invalid', `backup file ${file} does not exist`);
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const headBytes = Buffer.alloc(Math.min(size, HEADER_BYTES));
    await fh.read(headBytes, 0, headBytes.length, 0);
    const header = parseHeader(headBytes, size);
    // The second pass of a restore reuses the first pass's key (scrypt is deliberately slow).
    const cacheKey = header.bytes.toString('hex');
    const keys = derived.get(cacheKey) ?? (await deriveKeys(passphrase, header));
    derived.set(cacheKey, keys);
    if (!timingSafeEqual(keyCheck(keys.check, header.bytes), header.check)) {
      throw new BackupError(
        'wrong_passphrase',
        'wrong passphrase (or the backup header is damaged): nothing was changed',
      );
    }
    const stream = new PlainStream(new SealedReader(fh, header, keys.enc, size));
    const names = new Set<string>();
    let manifest: Manifest | null = null;
    let nodeRedBytes = 0;
    for (;;) {
      const type = (await stream.read(1))[0];
      if (type === 0) {
        const count = (await stream.read(4)).readUInt32BE(0);
        if (count !== names.size)
          throw new BackupError('damaged', 'the backup contents are inconsistent (entry count)');
        if (!(await stream.atEnd()))
          throw new BackupError('damaged', 'the backup has data after its end marker');
        break;
      }
      if (type !== 1 || names.size >= MAX_ENTRIES)
        throw new BackupError('damaged', 'the backup contents are not in the expected format');
      const nameLength = (await stream.read(2)).readUInt16BE(0);
      if (nameLength === 0 || nameLength > MAX_ENTRY_NAME)
        throw new BackupError('damaged', 'the backup names a file with an impossible name');
      const name = (await stream.read(nameLength)).toString('utf8');
      const entrySize = Number((await stream.read(8)).readBigUInt64BE(0));
      const mode = (await stream.read(4)).readUInt32BE(0);
      const target = entryTarget(name);
      if (target?.startsWith(`${NODE_RED_DIR}/`)) nodeRedBytes += entrySize;
      if (
        target === null ||
        names.has(name) ||
        entrySize > MAX_ENTRY_BYTES ||
        nodeRedBytes > MAX_NODE_RED_BYTES ||
        (target === RESTORED_CONFIG_FILE && entrySize > MAX_CONFIG_BYTES)
      ) {
        throw new BackupError(
          'invalid',
          `the backup holds an unexpected entry (${JSON.stringify(name.slice(0, 80))}): refusing it`,
        );
      }
      if (names.size === 0 && name !== MANIFEST)
        throw new BackupError('damaged', 'the backup does not start with its manifest');
      names.add(name);
      if (name === MANIFEST) {
        if (entrySize > MAX_MANIFEST_BYTES)
          throw new BackupError('damaged', 'the backup manifest is too large');
        manifest = parseManifest(await stream.read(entrySize));
        continue;
      }
      const out = into === null ? null : await openEntryOut(into, target, mode);
      try {
        let left = entrySize;
        while (left > 0) {
          const piece = await stream.readSome(Math.min(left, CHUNK_BYTES));
          if (out) await out.write(piece);
          left -= piece.length;
        }
        if (out) await out.sync();
      } finally {
        await out?.close();
      }
    }
    if (!manifest) throw new BackupError('damaged', 'the backup has no manifest');
    for (const required of [DB_FILE_NAME, KEY_FILE_NAME]) {
      if (!names.has(required)) throw new BackupError('invalid', `the backup does not contain ${required}`);
    }
    names.delete(MANIFEST);
    return { manifest, files: [...names] };
  } finally {
    await fh.close();
  }
}

async function openEntryOut(dir: string, target: string, mode: number): Promise<FileHandle> {
  const path = join(dir, target);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fh = await open(path, 'wx', 0o600);
  await fh.chmod(mode & 0o644 & (target.endsWith('.crt') ? 0o644 : 0o600));
  return fh;
}

function parseManifest(bytes: Buffer): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BackupError('damaged', 'the backup manifest is not valid JSON');
  }
  const m = value as Partial<Manifest> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    m.format !== 1 ||
    typeof m.hubId !== 'string' ||
    typeof m.createdAt !== 'string' ||
    typeof m.schemaVersion !== 'number' ||
    typeof m.events !== 'number'
  ) {
    throw new BackupError('damaged', 'the backup manifest is not in the expected format');
  }
  return m as Manifest;
}

/** Reads and checks a backup without changing anything: what `restore` would bring back. */
export async function inspectBackup(options: { file: string; passphrase: string }): Promise<Opened> {
  return readBackup(options.file, checkPassphrase(options.passphrase), null);
}

// --- restoring

const STAGING_PREFIX = '.restore-staging-';
const SNAPSHOT_PREFIX = `.${DB_FILE_NAME}.tmp-`;
/** Far longer than any backup takes (a 1 GB database: minutes), so a running backup is never touched. */
const STALE_SNAPSHOT_MS = 6 * 3600_000;

function isOlderThan(file: string, ms: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs > ms;
  } catch {
    return false;
  }
}
const COMMIT_DIR = '.restore-commit';
const COMMIT_FILES = 'files.json';
const COMMIT_PREVIOUS = 'previous';
const COMMIT_PHASE_B = 'moving-in';
/** Everything a restore replaces, in the order the old copies are moved aside (WAL before its database). */
const REPLACED = [
  `${DB_FILE_NAME}-wal`,
  `${DB_FILE_NAME}-shm`,
  `${DB_FILE_NAME}-journal`,
  JOURNAL_FILE,
  DB_FILE_NAME,
  KEY_FILE_NAME,
  CODE_KEY_FILE,
  ISSUER_KEY_FILE,
  CERTS_DIR,
  // Node-RED's credentials are sealed with a key derived from the hub key: they go with the keys.
  NODE_RED_DIR,
  RESTORED_CONFIG_FILE,
];

/**
 * Restores a backup into `dataDir`, keys and data together. Nothing in the data dir changes until the
 * whole file has been verified (passphrase, every record, the archive, the database's integrity and
 * event chain, the key formats). Then: files are staged in the data dir and fsynced, the staging dir is
 * renamed to `.restore-commit` (the commit point), and the old files are moved aside and the new ones
 * moved in. A restore cut by a power failure completes on the next open (finishPendingRestore).
 * The hub must be stopped: the CLI checks.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const passphrase = checkPassphrase(options.passphrase);
  // Pass 1: verify everything before touching the data dir.
  const derived: DerivedKeys = new Map();
  const checked = await readBackup(options.file, passphrase, null, derived);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  finishPendingRestore(options.dataDir);
  const staging = join(options.dataDir, `${STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging, { mode: 0o700 });
  try {
    // Pass 2: the file may have changed since pass 1 (removable media), so it is verified again.
    const opened = await readBackup(options.file, passphrase, staging, derived);
    if (opened.manifest.hubId !== checked.manifest.hubId) {
      throw new BackupError('damaged', 'the backup file changed while it was being restored');
    }
    const db = validateDatabase(join(staging, DB_FILE_NAME));
    validateKeys(staging, opened.files);
    const previous = `restore-previous-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    writeFileSync(join(staging, COMMIT_FILES), JSON.stringify(topLevel(opened.files.map(targetOf))));
    writeFileSync(join(staging, COMMIT_PREVIOUS), previous);
    syncTree(staging);
    renameSync(staging, join(options.dataDir, COMMIT_DIR)); // the commit point
    syncDir(options.dataDir);
    finishPendingRestore(options.dataDir);
    const previousDir = join(options.dataDir, previous);
    const kept =
      options.keepPrevious !== false && existsSync(previousDir) && readdirSync(previousDir).length > 0;
    if (!kept) rmSync(previousDir, { recursive: true, force: true });
    return {
      hubId: db.hubId,
      schemaVersion: db.schemaVersion,
      events: db.events,
      createdAt: opened.manifest.createdAt,
      files: opened.files.sort(),
      previous: kept ? previousDir : null,
      restoredConfig: opened.files.includes(CONFIG_ENTRY)
        ? join(options.dataDir, RESTORED_CONFIG_FILE)
        : null,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function targetOf(name: string): string {
  return entryTarget(name) ?? name;
}

function topLevel(files: string[]): string[] {
  return [...new Set(files.map((f) => f.split('/')[0]!))];
}

function syncTree(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) syncTree(path);
    else {
      const fd = openSync(path, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
  syncDir(dir);
}

/**
 * Completes a restore that reached its commit point (idempotent: safe to run again after a crash at any
 * step) and removes staging dirs of restores that did not. Called before the store is opened.
 */
export function finishPendingRestore(dataDir: string): void {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return; // no data dir yet
  }
  for (const name of names) {
    if (name.startsWith(STAGING_PREFIX)) rmSync(join(dataDir, name), { recursive: true, force: true });
    // A backup killed mid-way leaves its snapshot; one that old is no running backup's.
    else if (name.startsWith(SNAPSHOT_PREFIX) && isOlderThan(join(dataDir, name), STALE_SNAPSHOT_MS)) {
      rmSync(join(dataDir, name), { force: true });
    }
  }
  const commit = join(dataDir, COMMIT_DIR);
  if (!existsSync(commit)) return;
  const files = JSON.parse(readFileSync(join(commit, COMMIT_FILES), 'utf8')) as string[];
  const previous = join(dataDir, readFileSync(join(commit, COMMIT_PREVIOUS), 'utf8').trim());
  const phaseB = join(commit, COMMIT_PHASE_B);
  if (!existsSync(phaseB)) {
    // Phase A: move the current files aside (only ever the old ones: the new ones are still in commit).
    mkdirSync(previous, { recursive: true, mode: 0o700 });
    for (const name of REPLACED) {
      const current = join(dataDir, name);
      if (existsSync(current)) renameSync(current, join(previous, name));
    }
    syncDir(previous);
    syncDir(dataDir);
    closeSync(openSync(phaseB, 'w'));
    syncDir(commit);
  }
  // Phase B: move the restored files in.
  for (const name of files) {
    const staged = join(commit, name);
    if (existsSync(staged)) renameSync(staged, join(dataDir, name));
  }
  syncDir(dataDir);
  rmSync(commit, { recursive: true, force: true });
  syncDir(dataDir);
}

/** Opens a restored database copy and checks it is a complete, untampered Gatehouse database. */
function validateDatabase(file: string): { hubId: string; schemaVersion: number; events: number } {
  let db: Database;
  try {
    db = new BetterSqlite3(file, { fileMustExist: true });
  } catch (err) {
    throw new StoreError('invalid', `backup database cannot be opened: ${(err as Error).message}`);
  }
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new StoreError('invalid', `backup database is damaged: ${String(check)}`);
    if (db.pragma('application_id', { simple: true }) !== APPLICATION_ID) {
      throw new StoreError('invalid', 'backup database is not a Gatehouse database');
    }
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    if (schemaVersion < 1 || schemaVersion > SCHEMA_VERSION) {
      throw new StoreError(
        'invalid',
        `backup has schema version ${schemaVersion}; this Gatehouse understands 1 to ${SCHEMA_VERSION}`,
      );
    }
    const hubId = db.prepare("SELECT value FROM kv WHERE key = 'hub.id'").pluck().get() as string | undefined;
    if (hubId === undefined) throw new StoreError('invalid', 'backup database has no hub id');
    const chain = verifyEventChain(db);
    if (!chain.ok) {
      throw new StoreError(
        'invalid',
        `backup event log is broken at seq ${chain.brokenAt}: refusing to restore it`,
      );
    }
    db.pragma('journal_mode = DELETE');
    return { hubId, schemaVersion, events: chain.checked };
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError('invalid', `backup database is damaged: ${(err as Error).message}`);
  } finally {
    db.close();
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
  }
}

/** The key files must be what the hub will read, or the restored hub would not start. */
function validateKeys(dir: string, files: string[]): void {
  for (const name of [KEY_FILE_NAME, CODE_KEY_FILE]) {
    if (!files.includes(name)) continue;
    if (!/^[0-9a-f]{64}$/.test(readFileSync(join(dir, name), 'utf8').trim())) {
      throw new BackupError('invalid', `${name} in the backup is not a valid key (64 hex characters)`);
    }
  }
  if (files.includes(ISSUER_KEY_FILE)) {
    try {
      createPrivateKey(readFileSync(join(dir, ISSUER_KEY_FILE), 'utf8'));
    } catch {
      throw new BackupError('invalid', `${ISSUER_KEY_FILE} in the backup is not a valid private key`);
    }
  }
}
