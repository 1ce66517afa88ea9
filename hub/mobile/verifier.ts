// Offline verification of a mobile key presentation: a fresh single-use challenge bound to a door,
// the phone's signature over it, the issuer's signature over the certificate, then the same store
// checks as any credential (revocation, suspension, window, grants, schedule) plus the key epoch.
// Everything is local: no network, no cloud.
//
// Challenges are stateless (docs/mobile-keys.md, "Limits"): the hub keeps nothing per issued challenge
// but its expiry time, so a flood of requests can refuse new challenges (429) but never evict one that
// was issued to someone else. Only answered challenges are remembered, until they expire, to refuse a replay.
import { createHmac, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { decide } from '../access/index.js';
import type { Decision } from '../bus.js';
import type { Credential } from '../domain.js';
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
/** Live challenges (issued, not yet expired) at once: 100 a second for 30 s. See ChallengeMinter. */
export const DEFAULT_MAX_OUTSTANDING_CHALLENGES = 3_000;

export interface IssuedChallenge {
  /** 32 bytes, base64url (43 characters). */
  challenge: string;
  doorId: string;
  expiresAt: number;
}

export type ChallengeOutcome =
  | { ok: true; issued: IssuedChallenge }
  | { ok: false; reason: 'unknown_door' }
  | { ok: false; reason: 'rate_limited'; retryAfterMs: number };

type TakeResult = { ok: true; bytes: Buffer } | { ok: false; error: string };

// Challenge bytes: nonce (10) ‖ expiry ms, big-endian (6) ‖ HMAC-SHA256(key, context ‖ door ‖ nonce ‖ expiry)
// truncated to 16. 32 bytes in all, the size phones already sign.
const NONCE_BYTES = 10;
const EXPIRY_BYTES = 6;
const MAC_BYTES = CHALLENGE_BYTES - NONCE_BYTES - EXPIRY_BYTES;
const MAC_CONTEXT = Buffer.from('gatehouse-challenge/v1\0', 'ascii');

/**
 * Issues challenges the hub can check without remembering them (a MAC with a key made at each start:
 * a restart invalidates challenges in flight, which live 30 s) and remembers answered ones until they
 * expire (the replay set). The replay set is bounded because issuing is: at most `maxLive` challenges
 * are alive at once, and at that bound new ones are refused (`rate_limited`), never older ones dropped.
 */
export class ChallengeMinter {
  readonly #ttlMs: number;
  readonly #maxLive: number;
  readonly #key = randomBytes(32);
  /** Expiry of each live challenge, oldest first (the TTL is fixed, so issue order is expiry order). */
  readonly #live: number[] = [];
  #liveStart = 0;
  /** Answered challenges (nonce hex → expiry), to refuse a second answer. Never larger than #maxLive. */
  readonly #used = new Map<string, number>();

  constructor(ttlMs = DEFAULT_CHALLENGE_TTL_MS, maxLive = DEFAULT_MAX_OUTSTANDING_CHALLENGES) {
    if (!(ttlMs >= 1000) || !(maxLive >= 1))
      throw new RangeError('ChallengeMinter: ttl ≥ 1 s and maxLive ≥ 1');
    this.#ttlMs = ttlMs;
    this.#maxLive = maxLive;
  }

  issue(doorId: string, now: number): ChallengeOutcome {
    this.#prune(now);
    if (this.outstanding() >= this.#maxLive) {
      const oldest = this.#live[this.#liveStart] ?? now;
      return { ok: false, reason: 'rate_limited', retryAfterMs: Math.max(1, oldest - now) };
    }
    const expiresAt = now + this.#ttlMs;
    const nonce = randomBytes(NONCE_BYTES);
    const expiry = Buffer.alloc(EXPIRY_BYTES);
    expiry.writeUIntBE(expiresAt, 0, EXPIRY_BYTES);
    const bytes = Buffer.concat([nonce, expiry, this.#mac(doorId, nonce, expiry)]);
    this.#live.push(expiresAt);
    return { ok: true, issued: { challenge: bytes.toString('base64url'), doorId, expiresAt } };
  }

  /** Checks the challenge and uses it up: a second answer to it is always refused. */
  take(challenge: string, doorId: string, now: number): TakeResult {
    const bytes = fromBase64url(challenge);
    if (bytes?.length !== CHALLENGE_BYTES) return { ok: false, error: 'unknown challenge' };
    const nonce = bytes.subarray(0, NONCE_BYTES);
    const expiry = bytes.subarray(NONCE_BYTES, NONCE_BYTES + EXPIRY_BYTES);
    const mac = bytes.subarray(NONCE_BYTES + EXPIRY_BYTES);
    if (!timingSafeEqual(mac, this.#mac(doorId, nonce, expiry))) {
      return {
        ok: false,
        error:
          'unknown challenge: not issued by this hub for this door (another door, forged, or before a restart)',
      };
    }
    const expiresAt = expiry.readUIntBE(0, EXPIRY_BYTES);
    if (now >= expiresAt) return { ok: false, error: 'challenge expired' };
    this.#prune(now);
    const id = nonce.toString('hex');
    if (this.#used.has(id)) return { ok: false, error: 'challenge already used (replay)' };
    // Cannot overflow: every entry is a live challenge and at most #maxLive are issued at once.
    this.#used.set(id, expiresAt);
    return { ok: true, bytes };
  }

  /** Challenges issued and not yet expired (answered or not). */
  outstanding(): number {
    return this.#live.length - this.#liveStart;
  }

  #mac(doorId: string, nonce: Buffer, expiry: Buffer): Buffer {
    return createHmac('sha256', this.#key)
      .update(MAC_CONTEXT)
      .update(Buffer.from(`${doorId}\0`, 'utf8'))
      .update(nonce)
      .update(expiry)
      .digest()
      .subarray(0, MAC_BYTES);
  }

  #prune(now: number): void {
    while (this.#liveStart < this.#live.length && this.#live[this.#liveStart]! <= now) this.#liveStart++;
    // Compact now and then instead of shifting the array on every expiry.
    if (this.#liveStart > 1024 && this.#liveStart * 2 > this.#live.length) {
      this.#live.splice(0, this.#liveStart);
      this.#liveStart = 0;
    }
    // Answers come roughly in issue order, so the expired ones are at the front.
    for (const [id, expiresAt] of this.#used) {
      if (expiresAt > now) break;
      this.#used.delete(id);
    }
    if (this.#used.size > this.#maxLive) {
      for (const [id, expiresAt] of this.#used) if (expiresAt <= now) this.#used.delete(id);
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
export type MobileVerdict = Decision & {
  detail?: string;
  keyId?: string;
  /** True once the certificate and the phone's signature checked out: a real decision, always recorded. */
  verified?: boolean;
};

export class MobileVerifier {
  readonly #o: MobileVerifierOptions;
  readonly #book: ChallengeMinter;
  readonly #now: () => number;

  constructor(options: MobileVerifierOptions) {
    this.#o = options;
    this.#book = new ChallengeMinter(options.challengeTtlMs, options.maxOutstandingChallenges);
    this.#now = options.now ?? Date.now;
  }

  /** A fresh challenge for a door, or why not (unknown door; too many challenges alive at once). */
  issue(doorId: string): ChallengeOutcome {
    if (typeof doorId !== 'string' || !this.#o.store.doors.get(doorId))
      return { ok: false, reason: 'unknown_door' };
    return this.#book.issue(doorId, this.#now());
  }

  /** A fresh challenge for a door; null when the door does not exist or no challenge can be issued now. */
  challenge(doorId: string): IssuedChallenge | null {
    const outcome = this.issue(doorId);
    return outcome.ok ? outcome.issued : null;
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

    // The certificate is genuine and the phone holds its key. Now the same rules as any credential
    // (hub/access decides the order); the certificate can only narrow what the store allows: an old key
    // epoch revokes it, its own validity narrows the credential's, a door outside its scope has no grant.
    const found = store.credentials.find('mobile', body.keyId);
    const holder = found !== null && found.person.id === body.personId ? found : null;
    const staleEpoch = holder !== null && body.keyEpoch !== holder.person.keyEpoch;
    const grants = holder ? store.access.grantsFor(holder.person.id, door.id) : [];
    const outOfScope = grants.length > 0 && !this.#inScope(body.scope, door.id);
    const decision = decide({
      now,
      timeZone: this.#o.timeZone,
      door: { id: door.id, mode: door.mode, unlockMs: door.unlockMs },
      kind: 'mobile',
      match: holder && {
        person: holder.person,
        credential: narrowed(holder.credential, body, staleEpoch, now),
      },
      grants: outOfScope ? [] : grants,
      holidays: store.holidays.dates(),
      keypadLocked: false,
    });
    const detail =
      decision.reason === 'revoked' && staleEpoch && holder?.credential.revokedAt === null
        ? 'key epoch is no longer current (logged out everywhere)'
        : decision.reason === 'no_access' && outOfScope
          ? 'door is outside the key scope'
          : undefined;
    return { ...decision, keyId: body.keyId, verified: true, ...(detail ? { detail } : {}) };
  }

  #inScope(scope: { doors: string[]; groups: string[] }, doorId: string): boolean {
    if (scope.doors.includes(doorId)) return true;
    if (scope.groups.length === 0) return false;
    const groups = this.#o.store.groups.list();
    return groups.some((g) => scope.groups.includes(g.id) && g.doorIds.includes(doorId));
  }
}

/** The stored credential as the certificate allows it: revoked by an old key epoch, its window narrowed. */
function narrowed(
  credential: Credential,
  cert: { validFrom: number; validUntil: number },
  staleEpoch: boolean,
  now: number,
): Credential {
  const { validFrom, validUntil } = credential;
  return {
    ...credential,
    revokedAt: credential.revokedAt ?? (staleEpoch ? now : null),
    validFrom: validFrom === null ? cert.validFrom : Math.max(validFrom, cert.validFrom),
    validUntil: validUntil === null ? cert.validUntil : Math.min(validUntil, cert.validUntil),
  };
}
