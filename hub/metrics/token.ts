// The /metrics bearer token (docs/monitoring.md). `gatehouse metrics token` prints a new token once and keeps
// only its SHA-256 in the data directory (mode 0600); the hub compares in constant time. A 256-bit random
// token needs no slow hash: nobody can guess one, so a fast hash loses nothing and costs nothing per scrape.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const METRICS_TOKEN_FILE = 'metrics-token.sha256';
/** Tokens look like `ghm_<43 base64url characters>`; anything much longer is refused before hashing. */
const TOKEN_PREFIX = 'ghm_';
const MAX_TOKEN_CHARS = 200;
const HASH_LINE = /^sha256:([0-9a-f]{64})$/;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Makes a new token, replaces the stored hash (the old token stops working) and returns the token. */
export function createMetricsToken(dataDir: string): { token: string; file: string } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const file = path.join(dataDir, METRICS_TOKEN_FILE);
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, `sha256:${digest(token).toString('hex')}\n`, { mode: 0o600 });
  renameSync(temporary, file);
  return { token, file };
}

/** Removes the stored hash: /metrics answers 404 from the next request on. Returns whether one existed. */
export function disableMetricsToken(dataDir: string): boolean {
  const file = path.join(dataDir, METRICS_TOKEN_FILE);
  let existed = true;
  try {
    statSync(file);
  } catch {
    existed = false;
  }
  rmSync(file, { force: true });
  return existed;
}

export type TokenVerdict = 'disabled' | 'accepted' | 'refused';

/**
 * What the hub checks a request against. The file is re-read only when it changed (another inode, size or
 * mtime), so `gatehouse metrics token` takes effect at the next scrape without a restart.
 */
export class MetricsTokenCheck {
  readonly #file: string;
  #seen = '';
  #hash: Buffer | null = null;

  constructor(dataDir: string) {
    this.#file = path.join(dataDir, METRICS_TOKEN_FILE);
  }

  /** The request's Authorization header (any shape a client can send) against the stored hash. */
  check(authorization: string | string[] | undefined): TokenVerdict {
    const stored = this.#current();
    if (!stored) return 'disabled';
    const presented = bearerToken(authorization);
    // Hashing first makes both sides 32 bytes, so the comparison takes the same time whatever was sent.
    const given = digest(presented ?? '');
    return timingSafeEqual(given, stored) && presented !== null ? 'accepted' : 'refused';
  }

  #current(): Buffer | null {
    let stamp: string;
    try {
      const s = statSync(this.#file);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      this.#seen = '';
      this.#hash = null;
      return null;
    }
    if (stamp !== this.#seen) {
      this.#seen = stamp;
      const match = HASH_LINE.exec(readFileSync(this.#file, 'utf8').trim());
      // A damaged file disables nothing silently: every request is refused until a new token is made.
      this.#hash = match ? Buffer.from(match[1]!, 'hex') : Buffer.alloc(32);
    }
    return this.#hash;
  }
}

/** The token of `Authorization: Bearer <token>`, or null for anything else (several headers, other schemes). */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string' || header.length > MAX_TOKEN_CHARS + 7) return null;
  const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header);
  return match ? match[1]! : null;
}
