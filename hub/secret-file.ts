// Reading the secrets a hub keeps as files in its data directory (hub.key, code.key, issuer.key): one
// reader, so every key file gets the same answer to a missing file, a damaged one, and loose permissions.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import type { Logger } from './logger.js';

export interface SecretFileFormat<T> {
  /** Names the file in messages: "hub key", "code secret". */
  what: string;
  /** The secret in `text` (trimmed), or null when the text is not one. */
  parse(text: string): T | null;
  /** What a good file holds, said when it is damaged: "64 hex characters". */
  expected: string;
}

const HEX_KEY = /^[0-9a-f]{64}$/;

/** 32 random bytes written as 64 lowercase hex characters and a newline. */
export function hexKeyFormat(what: string): SecretFileFormat<Buffer> {
  return {
    what,
    parse: (text) => (HEX_KEY.test(text) ? Buffer.from(text, 'hex') : null),
    expected: '64 hex characters',
  };
}

/**
 * The secret in `file`; null when the file does not exist. A file that does not parse is an error that
 * names the file and the backup (never a silent new key: what was made with the old one would stop
 * working). A file other users may read is set back to 0600, with a warning.
 */
export function readSecretFile<T>(file: string, format: SecretFileFormat<T>, logger?: Logger): T | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const secret = format.parse(text);
  if (secret === null) {
    throw new Error(
      `${format.what} ${file} is damaged (expected ${format.expected}); restore it from the backup`,
    );
  }
  tightenSecretFileMode(file, format.what, logger);
  return secret;
}

/** Sets `file` back to 0600 when other users may read it (a copy restored by hand, a careless chmod). */
export function tightenSecretFileMode(file: string, what: string, logger?: Logger): void {
  if (looseMode(statSync(file).mode) !== null) {
    logger?.warn({ file }, `${what} was readable by other users; setting mode 0600`);
    chmodSync(file, 0o600);
  }
}

/** The permission bits (e.g. 0o644) when group or other users may use the file; null when only its owner may. */
export function looseMode(mode: number): number | null {
  return (mode & 0o077) !== 0 ? mode & 0o777 : null;
}
