import { describe, expect, it } from 'vitest';
import {
  answerChallenge,
  certificateHash,
  decodeCertificate,
  decodePhoneResponse,
  encodeCertificate,
  type MobileKeyBody,
  privateKeyFromSeed,
  publicKeyFromRaw,
  rawPublicKey,
  responseMessage,
  toBase64url,
  verifyIssuerSignature,
  verifyPhoneSignature,
} from '../../hub/mobile/certificate.js';

// The test vector published in docs/mobile-keys.md: an app implementation must reproduce it byte for byte.
const ISSUER = privateKeyFromSeed(Buffer.alloc(32, 1));
const PHONE = privateKeyFromSeed(Buffer.alloc(32, 2));
const BODY: MobileKeyBody = {
  v: 1,
  keyId: 'mk_test-vector-0001',
  personId: 'anna',
  phonePublicKey: 'gTl3Dqh9F19Wo1Rmw0x-zMuNipG07jeiXfYPW4_Js5Q',
  scope: { doors: ['front'], groups: [] },
  validFrom: 1798761600000,
  validUntil: 1830297600000,
  keyEpoch: 0,
  issuer: 'hub',
};
const VECTOR_CERT =
  'gh1.eyJ2IjoxLCJrZXlJZCI6Im1rX3Rlc3QtdmVjdG9yLTAwMDEiLCJwZXJzb25JZCI6ImFubmEiLCJwaG9uZVB1YmxpY0tleSI6ImdUbDNEcWg5RjE5V28xUm13MHgtek11TmlwRzA3amVpWGZZUFc0X0pzNVEiLCJzY29wZSI6eyJkb29ycyI6WyJmcm9udCJdLCJncm91cHMiOltdfSwidmFsaWRGcm9tIjoxNzk4NzYxNjAwMDAwLCJ2YWxpZFVudGlsIjoxODMwMjk3NjAwMDAwLCJrZXlFcG9jaCI6MCwiaXNzdWVyIjoiaHViIn0.WknuGPh0V3ncszKfcF0qJmD6hdNnY46knmFaoML4T8AImOCxn4MxiamwjiifsaH7DLoLYO6LP62MA5EqOySkAg';
const VECTOR_CHALLENGE = 'AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM';

describe('mobile key certificate format v1', () => {
  it('reproduces the published test vector', () => {
    expect(toBase64url(rawPublicKey(ISSUER))).toBe('iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w');
    expect(toBase64url(rawPublicKey(PHONE))).toBe(BODY.phonePublicKey);
    expect(encodeCertificate(BODY, ISSUER)).toBe(VECTOR_CERT);
    expect(certificateHash(VECTOR_CERT).toString('hex')).toBe(
      'bb1ea057378ec98325bf388589eb9202918e8fa33540581ca90214480bb31f9a',
    );
    expect(responseMessage(Buffer.alloc(32, 3), 'front', VECTOR_CERT).toString('hex')).toBe(
      '67617465686f7573652d6d6f62696c652d726573706f6e73652f7631000303030303030303030303030303030303030303030303030303030303030303' +
        '0066726f6e7400bb1ea057378ec98325bf388589eb9202918e8fa33540581ca90214480bb31f9a',
    );
  });

  it('decodes a genuine certificate and verifies the issuer signature', () => {
    const decoded = decodeCertificate(VECTOR_CERT);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.body).toEqual(BODY);
    expect(verifyIssuerSignature(decoded.value, publicKeyFromRaw(rawPublicKey(ISSUER))!)).toBe(true);
  });

  it('detects a changed body (e.g. another person or a longer window)', () => {
    const [prefix, , signature] = VECTOR_CERT.split('.');
    const forgedBody = Buffer.from(JSON.stringify({ ...BODY, validUntil: BODY.validUntil + 1 })).toString(
      'base64url',
    );
    const forged = decodeCertificate(`${prefix}.${forgedBody}.${signature}`);
    expect(forged.ok).toBe(true);
    if (!forged.ok) return;
    expect(verifyIssuerSignature(forged.value, publicKeyFromRaw(rawPublicKey(ISSUER))!)).toBe(false);
  });

  it('refuses a certificate signed by another key', () => {
    const other = privateKeyFromSeed(Buffer.alloc(32, 9));
    const decoded = decodeCertificate(encodeCertificate(BODY, other));
    expect(decoded.ok && verifyIssuerSignature(decoded.value, publicKeyFromRaw(rawPublicKey(ISSUER))!)).toBe(
      false,
    );
  });

  it.each([
    ['', 'certificate must be a string'],
    ['gh2.e30.AA', 'certificate must look like'],
    ['gh1.!!!.AA', 'certificate body is not base64url'],
    [
      `gh1.${Buffer.from('{}').toString('base64url')}.${Buffer.alloc(64).toString('base64url')}`,
      'does not match',
    ],
    [
      `gh1.${Buffer.from('not json').toString('base64url')}.${Buffer.alloc(64).toString('base64url')}`,
      'not JSON',
    ],
    ['x'.repeat(5000), 'too long'],
  ])('refuses malformed certificate %#', (text, error) => {
    const decoded = decodeCertificate(text);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toContain(error);
  });

  it('refuses a body with unknown fields or an empty window', () => {
    expect(() => encodeCertificate({ ...BODY, validUntil: BODY.validFrom }, ISSUER)).toThrow(/later/);
    const extra = Buffer.from(JSON.stringify({ ...BODY, admin: true })).toString('base64url');
    expect(decodeCertificate(`gh1.${extra}.${Buffer.alloc(64).toString('base64url')}`).ok).toBe(false);
  });
});

describe('phone response', () => {
  it('binds the signature to the challenge, the door and the certificate', () => {
    const response = decodePhoneResponse(answerChallenge(VECTOR_CERT, PHONE, VECTOR_CHALLENGE, 'front'));
    expect(response.ok).toBe(true);
    if (!response.ok) return;
    const phoneKey = publicKeyFromRaw(rawPublicKey(PHONE))!;
    expect(verifyPhoneSignature(response.value, phoneKey, Buffer.alloc(32, 3), 'front')).toBe(true);
    expect(verifyPhoneSignature(response.value, phoneKey, Buffer.alloc(32, 4), 'front')).toBe(false);
    expect(verifyPhoneSignature(response.value, phoneKey, Buffer.alloc(32, 3), 'back')).toBe(false);
    const otherCert = encodeCertificate({ ...BODY, keyId: 'mk_other-key-0002' }, ISSUER);
    expect(
      verifyPhoneSignature(
        { ...response.value, certificate: otherCert },
        phoneKey,
        Buffer.alloc(32, 3),
        'front',
      ),
    ).toBe(false);
  });

  it('refuses responses that are not the v1 format', () => {
    for (const text of ['', 'not base64!', Buffer.from('{"v":2}').toString('base64url'), 'A'.repeat(4001)]) {
      expect(decodePhoneResponse(text).ok).toBe(false);
    }
  });
});
