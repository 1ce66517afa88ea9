// The hub's own Ed25519 issuer key (signs mobile keys and door sync snapshots) and key issuing.
// The key lives in <dataDir>/mobile-issuer.key (PKCS#8 PEM, mode 0600), created on first use.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { readSecretFile, type SecretFileFormat } from '../secret-file.js';
import { createSecretFileOnce } from '../store/keys.js';
import type { Store } from '../store/store.js';
import {
  encodeCertificate,
  fromBase64url,
  type MobileKeyBody,
  publicKeyFromRaw,
  rawPublicKey,
  toBase64url,
} from './certificate.js';

export const ISSUER_KEY_FILE = 'mobile-issuer.key';
/** Issuer name the hub signs as; the cloud signs as CLOUD_ISSUER. */
export const HUB_ISSUER = 'hub';
export const CLOUD_ISSUER = 'cloud';
const DAY_MS = 86_400_000;
export const DEFAULT_VALID_DAYS = 365;
const MAX_VALID_DAYS = 3650;

export class IssuerKey {
  readonly name: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly file: string | null;

  constructor(name: string, privateKey: KeyObject, file: string | null = null) {
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('an issuer key must be Ed25519');
    this.name = name;
    this.privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
    this.file = file;
  }

  /** Raw public key, base64url: what a door controller or the cloud pins. */
  publicKeyText(): string {
    return toBase64url(rawPublicKey(this.publicKey));
  }

  /** Reads <dataDir>/mobile-issuer.key or creates it atomically (never overwrites another process's key). */
  static loadOrCreate(dataDir: string, logger?: Logger): IssuerKey {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, ISSUER_KEY_FILE);
    const existing = readSecretFile(file, ISSUER_KEY_FORMAT, logger);
    if (existing) return new IssuerKey(HUB_ISSUER, existing, file);
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    createSecretFileOnce(file, pem);
    const key = readSecretFile(file, ISSUER_KEY_FORMAT, logger);
    if (!key) throw new Error(`issuer key ${file} could not be created`);
    return new IssuerKey(HUB_ISSUER, key, file);
  }
}

/** A damaged issuer key is never replaced by a new one: every mobile key it signed would stop working. */
const ISSUER_KEY_FORMAT: SecretFileFormat<KeyObject> = {
  what: 'issuer key',
  parse(text) {
    try {
      const key = createPrivateKey(text);
      return key.asymmetricKeyType === 'ed25519' ? key : null;
    } catch {
      return null;
    }
  },
  expected: 'an Ed25519 private key in PKCS#8 PEM',
};

/** Parses a public key given as raw base64url (43 characters) or as a PEM SPKI block. */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    const key = createPublicKey(trimmed);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('the public key is not Ed25519');
    return key;
  }
  const raw = fromBase64url(trimmed);
  const key = raw ? publicKeyFromRaw(raw) : null;
  if (!key) throw new Error('a public key must be 32 bytes base64url (43 characters) or a PEM block');
  return key;
}

/** Issuers the verifier trusts: the hub's own key, and the cloud's public key when configured. */
export function trustedIssuers(hubKey: IssuerKey, cloudPublicKey?: string | null): Map<string, KeyObject> {
  const map = new Map<string, KeyObject>([[hubKey.name, hubKey.publicKey]]);
  if (cloudPublicKey) map.set(CLOUD_ISSUER, parsePublicKey(cloudPublicKey));
  return map;
}

export interface IssueRequest {
  personId: string;
  /** The phone's raw public key, base64url (43 characters). */
  phonePublicKey: string;
  doors?: string[];
  groups?: string[];
  validFrom?: number;
  validUntil?: number;
  label?: string;
}

export interface IssuedKey {
  certificate: string;
  body: MobileKeyBody;
  credentialId: string;
}

/**
 * Issues a mobile key: records the credential (kind 'mobile', by key id) in the store, durably,
 * then signs the certificate with the person's current key epoch.
 */
export function issueMobileKey(
  store: Store,
  issuer: IssuerKey,
  request: IssueRequest,
  now = Date.now(),
): IssuedKey {
  const phoneRaw = fromBase64url(request.phonePublicKey);
  if (!phoneRaw || !publicKeyFromRaw(phoneRaw)) {
    throw new Error('phone public key must be a 32-byte Ed25519 key, base64url (43 characters)');
  }
  const doors = [...new Set(request.doors ?? [])].sort();
  const groups = [...new Set(request.groups ?? [])].sort();
  if (doors.length === 0 && groups.length === 0)
    throw new Error('a mobile key needs at least one door or group');
  for (const door of doors) if (!store.doors.get(door)) throw new Error(`door '${door}' does not exist`);
  const knownGroups = new Set(store.groups.list().map((g) => g.id));
  for (const group of groups) if (!knownGroups.has(group)) throw new Error(`group '${group}' does not exist`);
  const validFrom = request.validFrom ?? now;
  const validUntil = request.validUntil ?? validFrom + DEFAULT_VALID_DAYS * DAY_MS;
  if (!Number.isSafeInteger(validFrom) || !Number.isSafeInteger(validUntil) || validUntil <= validFrom) {
    throw new Error('validUntil must be later than validFrom');
  }
  if (validUntil - validFrom > MAX_VALID_DAYS * DAY_MS)
    throw new Error(`a mobile key is valid for at most ${MAX_VALID_DAYS} days`);
  const keyId = `mk_${randomBytes(16).toString('base64url')}`;
  return store.transaction(() => {
    const person = store.people.get(request.personId);
    if (!person) throw new Error(`person '${request.personId}' does not exist`);
    const credential = store.credentials.addMobile(person.id, keyId, {
      validFrom,
      validUntil,
      label: request.label ?? 'mobile key',
    });
    const body: MobileKeyBody = {
      v: 1,
      keyId,
      personId: person.id,
      phonePublicKey: request.phonePublicKey,
      scope: { doors, groups },
      validFrom,
      validUntil,
      keyEpoch: person.keyEpoch,
      issuer: issuer.name,
    };
    return { certificate: encodeCertificate(body, issuer.privateKey), body, credentialId: credential.id };
  });
}
