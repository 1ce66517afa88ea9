// The per-hub code secret: <dataDir>/code.key, 32 random bytes as hex, mode 0600. The cloud gets a
// copy over the mirror so it can issue codes while the hub is unreachable; staff see it only
// through `gatehouse code secret-export`. Kept apart from hub.key so it can be rotated alone.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { hexKeyFormat, readSecretFile } from '../secret-file.js';
import { createSecretFileOnce } from '../store/keys.js';

export const CODE_KEY_FILE_NAME = 'code.key';
const CODE_KEY_FORMAT = hexKeyFormat('code secret');

export class CodeSecret {
  readonly #key: Buffer;
  readonly file: string;

  constructor(key: Buffer, file: string) {
    if (key.length !== 32) throw new Error('code secret must be 32 bytes');
    this.#key = Buffer.from(key);
    this.file = file;
  }

  /** Reads <dataDir>/code.key, creating it atomically on first use (never overwrites another's). */
  static loadOrCreate(dataDir: string, logger?: Logger): CodeSecret {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, CODE_KEY_FILE_NAME);
    const existing = read(file, logger);
    if (existing) return new CodeSecret(existing, file);
    if (createSecretFileOnce(file, `${randomBytes(32).toString('hex')}\n`)) {
      logger?.info({ file }, 'created a new offline code secret');
    }
    const key = read(file, logger);
    if (!key) throw new Error(`code secret ${file} could not be created`);
    return new CodeSecret(key, file);
  }

  /** The raw secret, for the code functions. Never log it. */
  bytes(): Buffer {
    return Buffer.from(this.#key);
  }

  /** Hex form for the cloud mirror and the explicit CLI export. Never log it. */
  exportHex(): string {
    return this.#key.toString('hex');
  }

  /** Public id of the secret: 16 hex of SHA-256 over it. Safe to log and show; reveals nothing usable. */
  fingerprint(): string {
    return createHash('sha256')
      .update('gatehouse-code-secret-fingerprint/1|')
      .update(this.#key)
      .digest('hex')
      .slice(0, 16);
  }

  /**
   * Replaces <dataDir>/code.key with a new random secret (written aside, fsynced, then renamed over
   * the old one, so a reader sees the old or the new file, never half of one).
   */
  static rotate(dataDir: string): CodeSecret {
    const file = join(dataDir, CODE_KEY_FILE_NAME);
    const key = randomBytes(32);
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, `${key.toString('hex')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dir = openSync(dataDir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    return new CodeSecret(key, file);
  }

  /** Reads <dataDir>/code.key as it is now; null when it is missing. Throws when it is damaged. */
  static read(dataDir: string, logger?: Logger): CodeSecret | null {
    const file = join(dataDir, CODE_KEY_FILE_NAME);
    const key = read(file, logger);
    return key ? new CodeSecret(key, file) : null;
  }
}

function read(file: string, logger?: Logger): Buffer | null {
  return readSecretFile(file, CODE_KEY_FORMAT, logger);
}
