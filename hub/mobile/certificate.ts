// Mobile key certificates and phone responses (docs/mobile-keys.md). Pure: bytes and strings in,
// typed values or a clear error out. Ed25519 everywhere (node:crypto, no extra dependency).
//
// Certificate text:  gh1.<base64url(JSON body)>.<base64url(issuer signature)>
//   issuer signature = Ed25519 over the ASCII bytes of "gh1.<base64url(JSON body)>"
// Phone response:    base64url(JSON {v, certificate, challenge, signature})
//   phone signature  = Ed25519 over RESPONSE_CONTEXT || 0x00 || challenge(32) || 0x00 || doorId || 0x00 || sha256(certificate)
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';

export const CERTIFICATE_PREFIX = 'gh1';
export const RESPONSE_CONTEXT = 'gatehouse-mobile-response/v1';
export const CHALLENGE_BYTES = 32;
export const MAX_CERTIFICATE_CHARS = 2048;
/** Fits in the MQTT credential `value` (4096 characters). */
export const MAX_RESPONSE_CHARS = 4000;

const ID = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const B64URL = /^[A-Za-z0-9_-]*$/;

export const MobileKeyBodySchema = Type.Object(
  {
    v: Type.Literal(1),
    keyId: Type.String({ pattern: '^[A-Za-z0-9_.:-]{8,128}$' }),
    personId: Type.String({ pattern: ID }),
    /** Raw 32-byte Ed25519 public key of the phone, base64url without padding (43 characters). */
    phonePublicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    scope: Type.Object(
      {
        doors: Type.Array(Type.String({ pattern: ID }), { maxItems: 64 }),
        groups: Type.Array(Type.String({ pattern: ID }), { maxItems: 64 }),
      },
      { additionalProperties: false },
    ),
    validFrom: Type.Integer({ minimum: 0 }),
    validUntil: Type.Integer({ minimum: 0 }),
    keyEpoch: Type.Integer({ minimum: 0 }),
    issuer: Type.String({ pattern: '^[a-z0-9][a-z0-9_.:-]{0,63}$' }),
  },
  { additionalProperties: false },
);
export type MobileKeyBody = Static<typeof MobileKeyBodySchema>;
const bodyCheck = Compile(MobileKeyBodySchema);

export const PhoneResponseSchema = Type.Object(
  {
    v: Type.Literal(1),
    certificate: Type.String({ minLength: 1, maxLength: MAX_CERTIFICATE_CHARS }),
    challenge: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    signature: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$' }),
  },
  { additionalProperties: false },
);
export type PhoneResponse = Static<typeof PhoneResponseSchema>;
const responseCheck = Compile(PhoneResponseSchema);

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Strict base64url (no padding, canonical): null when the text is not exactly that. */
export function fromBase64url(text: string): Buffer | null {
  if (typeof text !== 'string' || !B64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

// DER prefixes that wrap a raw 32-byte Ed25519 key (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** An Ed25519 private key from its 32-byte seed (for test vectors and key files). */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** An Ed25519 public key from its raw 32 bytes; null when the bytes are not a valid key. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject | null {
  if (raw.length !== 32) return null;
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}

/** The raw 32 bytes of an Ed25519 public (or private) key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
  return pub.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
}

/** Canonical JSON of a body: fixed key order, no whitespace, so the same body always gives the same bytes. */
export function canonicalBody(body: MobileKeyBody): string {
  return JSON.stringify({
    v: body.v,
    keyId: body.keyId,
    personId: body.personId,
    phonePublicKey: body.phonePublicKey,
    scope: { doors: body.scope.doors, groups: body.scope.groups },
    validFrom: body.validFrom,
    validUntil: body.validUntil,
    keyEpoch: body.keyEpoch,
    issuer: body.issuer,
  });
}

/** Signs a body with the issuer's private key; returns the certificate text. */
export function encodeCertificate(body: MobileKeyBody, issuerKey: KeyObject): string {
  if (!bodyCheck.Check(body)) throw new Error('mobile key body does not match the schema');
  if (body.validUntil <= body.validFrom) throw new Error('validUntil must be later than validFrom');
  const signed = `${CERTIFICATE_PREFIX}.${Buffer.from(canonicalBody(body), 'utf8').toString('base64url')}`;
  const signature = sign(null, Buffer.from(signed, 'ascii'), issuerKey);
  return `${signed}.${signature.toString('base64url')}`;
}

export interface DecodedCertificate {
  body: MobileKeyBody;
  /** The bytes the issuer signed. */
  signed: Buffer;
  signature: Buffer;
}

/** Parses certificate text without checking the issuer signature (see verifyIssuerSignature). */
export function decodeCertificate(text: unknown): Parsed<DecodedCertificate> {
  if (typeof text !== 'string' || text.length === 0)
    return { ok: false, error: 'certificate must be a string' };
  if (text.length > MAX_CERTIFICATE_CHARS) return { ok: false, error: 'certificate is too long' };
  const parts = text.split('.');
  if (parts.length !== 3 || parts[0] !== CERTIFICATE_PREFIX) {
    return { ok: false, error: `certificate must look like ${CERTIFICATE_PREFIX}.<body>.<signature>` };
  }
  const bodyBytes = fromBase64url(parts[1]!);
  const signature = fromBase64url(parts[2]!);
  if (!bodyBytes || bodyBytes.length === 0) return { ok: false, error: 'certificate body is not base64url' };
  if (signature?.length !== 64) return { ok: false, error: 'certificate signature is not 64 bytes' };
  let body: unknown;
  try {
    body = JSON.parse(bodyBytes.toString('utf8'));
  } catch {
    return { ok: false, error: 'certificate body is not JSON' };
  }
  if (!bodyCheck.Check(body))
    return { ok: false, error: 'certificate body does not match the mobile key format v1' };
  if (body.validUntil <= body.validFrom) return { ok: false, error: 'certificate window is empty' };
  if (fromBase64url(body.phonePublicKey)?.length !== 32)
    return { ok: false, error: 'phone public key is not 32 bytes' };
  return {
    ok: true,
    value: { body, signed: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), signature },
  };
}

export function verifyIssuerSignature(cert: DecodedCertificate, issuerPublicKey: KeyObject): boolean {
  try {
    return verify(null, cert.signed, issuerPublicKey, cert.signature);
  } catch {
    return false;
  }
}

export function certificateHash(certificate: string): Buffer {
  return createHash('sha256').update(certificate, 'ascii').digest();
}

/** The exact bytes a phone signs to answer a challenge at a door. */
export function responseMessage(challenge: Uint8Array, doorId: string, certificate: string): Buffer {
  const zero = Buffer.alloc(1);
  return Buffer.concat([
    Buffer.from(RESPONSE_CONTEXT, 'ascii'),
    zero,
    challenge,
    zero,
    Buffer.from(doorId, 'utf8'),
    zero,
    certificateHash(certificate),
  ]);
}

/** What a phone sends back: base64url of the response JSON. */
export function encodePhoneResponse(response: PhoneResponse): string {
  return Buffer.from(JSON.stringify(response), 'utf8').toString('base64url');
}

export function decodePhoneResponse(text: unknown): Parsed<PhoneResponse> {
  if (typeof text !== 'string' || text.length === 0) return { ok: false, error: 'response must be a string' };
  if (text.length > MAX_RESPONSE_CHARS) return { ok: false, error: 'response is too long' };
  const bytes = fromBase64url(text);
  if (!bytes) return { ok: false, error: 'response is not base64url' };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, error: 'response is not base64url of JSON' };
  }
  if (!responseCheck.Check(json))
    return { ok: false, error: 'response does not match the phone response format v1' };
  return { ok: true, value: json };
}

/** The phone's side of the exchange: sign the challenge for this door with the phone's private key. */
export function answerChallenge(
  certificate: string,
  phoneKey: KeyObject,
  challenge: string,
  doorId: string,
): string {
  const challengeBytes = fromBase64url(challenge);
  if (!challengeBytes || challengeBytes.length !== CHALLENGE_BYTES)
    throw new Error('challenge must be 32 bytes base64url');
  const signature = sign(null, responseMessage(challengeBytes, doorId, certificate), phoneKey);
  return encodePhoneResponse({ v: 1, certificate, challenge, signature: signature.toString('base64url') });
}

export function verifyPhoneSignature(
  response: PhoneResponse,
  phonePublicKey: KeyObject,
  challengeBytes: Uint8Array,
  doorId: string,
): boolean {
  const signature = fromBase64url(response.signature);
  if (signature?.length !== 64) return false;
  try {
    return verify(
      null,
      responseMessage(challengeBytes, doorId, response.certificate),
      phonePublicKey,
      signature,
    );
  } catch {
    return false;
  }
}
