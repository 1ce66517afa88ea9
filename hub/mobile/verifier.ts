// Offline verification of a mobile key presentation: a fresh single-use challenge bound to a door,
// the phone's signature over it, the issuer's signature over the certificate, then the same store
// checks as any credential (revocation, suspension, window, grants, schedule) plus the key epoch.
// Everything is local: no network, no cloud.
import { type KeyObject, randomBytes } from 'node:crypto';
import { decide } from '../access/index.js';
import type { Decision } from '../bus.js';
import type { Reason } from '../domain.js';
import type { Store } from '../store/store.js';
import {
  CHALLENGE_BYTES,
  decodeCertificate,
  decodePhoneResponse,
  fromBase64url,
  publicKeyFromRaw,
  verifyIssuerSignature,
  verifyPhoneSignature,
} from './certificate.js';

export const DEFAULT_CHALLENGE_TTL_MS = 30_000;
export const DEFAULT_MAX_OUTSTANDING_CHALLENGES = 10_000;

export interface IssuedChallenge {
  /** 32 random bytes, base64url (43 characters). */
  challenge: string;
  doorId: string;
  expiresAt: number;
}

type TakeResult = { ok: true; bytes: Buffer } | { ok: false; error: string };

/** Outstanding challenges: each is good for one answer, at one door, until it expires. */
export class ChallengeBook {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #open = new Map<string, { doorId: string; expiresAt: number }>();
  /** Recently answered challenges, only to tell a replay apart from garbage in the error. */
  readonly #used = new Map<string, number>();

  constructor(ttlMs = DEFAULT_CHALLENGE_TTL_MS, max = DEFAULT_MAX_OUTSTANDING_CHALLENGES) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  issue(doorId: string, now: number): IssuedChallenge {
    this.#prune(now);
    // Bounded memory: a flood of challenge requests evicts the oldest, it never grows without end.
    while (this.#open.size >= this.#max) {
      const oldest = this.#open.keys().next().value;
      if (oldest === undefined) break;
      this.#open.delete(oldest);
    }
    const challenge = randomBytes(CHALLENGE_BYTES).toString('base64url');
    const expiresAt = now + this.#ttlMs;
    this.#open.set(challenge, { doorId, expiresAt });
    return { challenge, doorId, expiresAt };
  }

  /** Consumes the challenge whatever the outcome: a second answer to it is always refused. */
  take(challenge: string, doorId: string, now: number): TakeResult {
    const entry = this.#open.get(challenge);
    if (!entry) {
      return {
        ok: false,
        error: this.#used.has(challenge) ? 'challenge already used (replay)' : 'unknown challenge',
      };
    }
    this.#open.delete(challenge);
    this.#used.set(challenge, entry.expiresAt);
    if (now >= entry.expiresAt) return { ok: false, error: 'challenge expired' };
    if (entry.doorId !== doorId) return { ok: false, error: 'challenge was issued for another door' };
    const bytes = fromBase64url(challenge);
    return bytes ? { ok: true, bytes } : { ok: false, error: 'unknown challenge' };
  }

  outstanding(): number {
    return this.#open.size;
  }

  #prune(now: number): void {
    for (const [key, entry] of this.#open) if (entry.expiresAt <= now) this.#open.delete(key);
    for (const [key, expiresAt] of this.#used) if (expiresAt <= now) this.#used.delete(key);
    while (this.#used.size > this.#max) {
      const oldest = this.#used.keys().next().value;
      if (oldest === undefined) break;
      this.#used.delete(oldest);
    }
  }
}

export interface MobileVerifierOptions {
  store: Store;
  /** Issuer name → Ed25519 public key (see trustedIssuers). */
  issuers: ReadonlyMap<string, KeyObject>;
  timeZone: string;
  challengeTtlMs?: number;
  maxOutstandingChallenges?: number;
  now?: () => number;
}

/** A decision plus, for refusals of malformed or forged input, what was wrong (never secret). */
export type MobileVerdict = Decision & { detail?: string; keyId?: string };

export class MobileVerifier {
  readonly #o: MobileVerifierOptions;
  readonly #book: ChallengeBook;
  readonly #now: () => number;

  constructor(options: MobileVerifierOptions) {
    this.#o = options;
    this.#book = new ChallengeBook(options.challengeTtlMs, options.maxOutstandingChallenges);
    this.#now = options.now ?? Date.now;
  }

  /** A fresh challenge for a door; null when the door does not exist. */
  challenge(doorId: string): IssuedChallenge | null {
    if (typeof doorId !== 'string' || !this.#o.store.doors.get(doorId)) return null;
    return this.#book.issue(doorId, this.#now());
  }

  outstandingChallenges(): number {
    return this.#book.outstanding();
  }

  /** Verifies a phone response presented at a door. Never throws for bad input: it refuses. */
  verify(doorId: string, responseText: unknown): MobileVerdict {
    const { store } = this.#o;
    const now = this.#now();
    const invalid = (detail: string): MobileVerdict => ({
      granted: false,
      reason: 'invalid_request',
      detail,
    });

    const door = typeof doorId === 'string' ? store.doors.get(doorId) : null;
    if (!door) return invalid(`unknown door '${String(doorId).slice(0, 64)}'`);
    const response = decodePhoneResponse(responseText);
    if (!response.ok) return invalid(response.error);
    // Take the challenge first: whatever follows, this answer cannot be presented again.
    const taken = this.#book.take(response.value.challenge, door.id, now);
    if (!taken.ok) return invalid(taken.error);

    const cert = decodeCertificate(response.value.certificate);
    if (!cert.ok) return invalid(cert.error);
    const body = cert.value.body;
    const issuerKey = this.#o.issuers.get(body.issuer);
    if (!issuerKey) return invalid(`certificate issuer '${body.issuer}' is not trusted by this hub`);
    if (!verifyIssuerSignature(cert.value, issuerKey)) return invalid('certificate signature is not valid');
    const phoneKey = publicKeyFromRaw(fromBase64url(body.phonePublicKey) ?? Buffer.alloc(0));
    if (!phoneKey) return invalid('phone public key is not valid');
    if (!verifyPhoneSignature(response.value, phoneKey, taken.bytes, door.id)) {
      return invalid('phone signature does not match the challenge, door and certificate');
    }

    // The certificate is genuine and the phone holds its key. Now the same rules as any credential.
    const match = store.credentials.find('mobile', body.keyId);
    const sameHolder = match !== null && match.person.id === body.personId;
    const decision = decide({
      now,
      timeZone: this.#o.timeZone,
      door: { id: door.id, mode: door.mode, unlockMs: door.unlockMs },
      kind: 'mobile',
      match: sameHolder ? match : null,
      grants: sameHolder ? store.access.grantsFor(match.person.id, door.id) : [],
      holidays: store.holidays.dates(),
      keypadLocked: false,
    });
    const withKey = { keyId: body.keyId };
    if (!decision.granted || !sameHolder) return { ...decision, ...withKey };

    // Certificate-level limits: each can only narrow what the store allows (deny wins).
    const deny = (reason: Reason, detail?: string): MobileVerdict => ({
      granted: false,
      reason,
      personId: match.person.id,
      credentialId: match.credential.id,
      ...withKey,
      ...(detail ? { detail } : {}),
    });
    if (body.keyEpoch !== match.person.keyEpoch)
      return deny('revoked', 'key epoch is no longer current (logged out everywhere)');
    if (now < body.validFrom) return deny('not_yet_valid');
    if (now >= body.validUntil) return deny('expired');
    if (!this.#inScope(body.scope, door.id)) return deny('no_access', 'door is outside the key scope');
    return { ...decision, ...withKey };
  }

  #inScope(scope: { doors: string[]; groups: string[] }, doorId: string): boolean {
    if (scope.doors.includes(doorId)) return true;
    if (scope.groups.length === 0) return false;
    const groups = this.#o.store.groups.list();
    return groups.some((g) => scope.groups.includes(g.id) && g.doorIds.includes(doorId));
  }
}
