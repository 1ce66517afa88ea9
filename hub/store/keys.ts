// The per-hub secret key. It lives in <dataDir>/hub.key, apart from the database, so a copied
// database alone does not let anyone test PIN guesses offline.
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../logger.js';
import { hexKeyFormat, readSecretFile } from '../secret-file.js';

export const KEY_FILE_NAME = 'hub.key';
const KEY_BYTES = 32;
const KEY_FORMAT = hexKeyFormat('hub key');

export class HubKeys {
  readonly #key: Buffer;
  readonly #subkeys = new Map<string, Buffer>();
  /** Where the key was read from, for backups and docs. */
  readonly file: string;

  constructor(key: Buffer, file: string) {
    if (key.length !== KEY_BYTES) throw new Error(`hub key must be ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
    this.file = file;
  }

  /**
   * Reads <dataDir>/hub.key, or creates it on first use: 32 random bytes as 64 hex characters,
   * mode 0600. Creation writes a temp file and hard-links it into place, which is atomic and
   * never overwrites a key another process created at the same moment.
   */
  static loadOrCreate(dataDir: string, logger?: Logger): HubKeys {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, KEY_FILE_NAME);
    const existing = readSecretFile(file, KEY_FORMAT, logger);
    if (existing) return new HubKeys(existing, file);

    if (createSecretFileOnce(file, `${randomBytes(KEY_BYTES).toString('hex')}\n`)) {
      logger?.info({ file }, 'created a new hub key');
    }
    const key = readSecretFile(file, KEY_FORMAT, logger);
    if (!key) throw new Error(`hub key ${file} could not be created`);
    return new HubKeys(key, file);
  }

  /** A key derived for one purpose, so a hash made for one use is useless for another. */
  subkey(purpose: string): Buffer {
    let key = this.#subkeys.get(purpose);
    if (!key) {
      key = createHmac('sha256', this.#key).update(`gatehouse/${purpose}`).digest();
      this.#subkeys.set(purpose, key);
    }
    return key;
  }

  /** Hex HMAC-SHA256 of `value` under the purpose's subkey (e.g. 'pin', 'device', 'session'). */
  hmac(purpose: string, value: string): string {
    return createHmac('sha256', this.subkey(purpose)).update(value).digest('hex');
  }
}

/**
 * Creates `file` (mode 0600) with `content` unless it exists. Writes a temp file and hard-links it into
 * place: atomic, and never overwrites a secret another process created at the same moment.
 * Returns true when this call created it.
 */
export function createSecretFileOnce(file: string, content: string): boolean {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    syncDir(dirname(file));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false; // another process created it first: theirs wins
  } finally {
    unlinkSync(tmp);
  }
}

export function syncDir(dir: string): void {
  // fsync of the directory makes a rename/link durable; not supported everywhere, so best effort.
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // ignore: platforms without directory fsync
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
