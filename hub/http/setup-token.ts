// The first-run setup token: proof that whoever creates the first admin over the network can read the
// hub's console/log or its data directory (the onboarding pattern of Jupyter, Grafana, Home Assistant).
// It exists only while there is no staff user, lives in <data>/setup-token (mode 0600) and is deleted
// when setup completes or a staff user appears some other way (`gatehouse user add`).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const SETUP_TOKEN_FILE = 'setup-token';

// Unambiguous when read off a console and typed: no 0/o, 1/l/i.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
/** 20 characters of a 31-letter alphabet: ~99 bits, in groups of 5 for reading aloud. */
const TOKEN_CHARS = 20;

function generate(): string {
  const bytes = randomBytes(TOKEN_CHARS * 2);
  let token = '';
  // Rejection sampling keeps every letter equally likely (248 = 8 × 31).
  for (let i = 0; i < bytes.length && token.length < TOKEN_CHARS; i++) {
    if (bytes[i]! < 248) token += ALPHABET[bytes[i]! % ALPHABET.length];
  }
  if (token.length < TOKEN_CHARS) return generate();
  return token.match(/.{5}/g)!.join('-');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class SetupToken {
  readonly #file: string;
  #token: string | null = null;

  constructor(dataDir: string) {
    this.#file = path.join(dataDir, SETUP_TOKEN_FILE);
  }

  get file(): string {
    return this.#file;
  }

  /** True while a token is waiting to be used. */
  get active(): boolean {
    return this.#token !== null;
  }

  /**
   * Loads the token left by an earlier start (so a copied token survives a restart), or creates one.
   * Returns it for the first-run console line.
   */
  ensure(): string {
    let token: string | null = null;
    try {
      token = readFileSync(this.#file, 'utf8').trim() || null;
    } catch {
      token = null;
    }
    if (!token) {
      token = generate();
      rmSync(this.#file, { force: true });
      writeFileSync(this.#file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    }
    chmodSync(this.#file, 0o600); // also tightens a file someone copied in with looser rights
    this.#token = token.toLowerCase();
    return token;
  }

  /** Constant-time comparison (of fixed-length digests, so the length does not leak either). */
  matches(candidate: unknown): boolean {
    if (this.#token === null || typeof candidate !== 'string') return false;
    return timingSafeEqual(digest(candidate.trim().toLowerCase()), digest(this.#token));
  }

  /** Setup is done: the token can never be used again. */
  retire(): void {
    this.#token = null;
    rmSync(this.#file, { force: true });
  }
}

/** Removes a leftover token file once a staff user exists (used by `gatehouse user add`). */
export function removeSetupTokenFile(dataDir: string): void {
  rmSync(path.join(dataDir, SETUP_TOKEN_FILE), { force: true });
}
