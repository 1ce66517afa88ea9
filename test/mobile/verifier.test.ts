import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Decision, Presentation } from '../../hub/bus.js';
import { encodeCertificate, toBase64url } from '../../hub/mobile/certificate.js';
import { IssuerKey, issueMobileKey, trustedIssuers } from '../../hub/mobile/issuer.js';
import { Phone } from '../../hub/mobile/phone.js';
import { MobileVerifier } from '../../hub/mobile/verifier.js';
import { openHubStore } from '../../hub/open-store.js';
import { type Building, building, DAY, presentAt } from './helpers.js';

let b: Building;
beforeEach(async () => {
  b = await building();
});
afterEach(async () => {
  await b.cleanup();
});

describe('mobile key verified offline', () => {
  it('opens a door in scope, records the decision and announces it on the bus', () => {
    const decided: Array<[Presentation, Decision]> = [];
    b.bus.on(b, 'decided', (p, d) => decided.push([p, d]));
    const { verdict } = presentAt(b, 'front');
    expect(verdict).toMatchObject({
      granted: true,
      reason: 'granted',
      personId: 'anna',
      credentialId: b.credentialId,
    });
    expect(decided).toHaveLength(1);
    expect(decided[0]![1]).toMatchObject({ granted: true, unlockMs: 5000 });
    const event = b.opened.store.events.list({ limit: 1, type: 'decision' })[0]!;
    expect(event).toMatchObject({ doorId: 'front', personId: 'anna', credentialId: b.credentialId });
    expect(event.data).toMatchObject({ granted: true, reason: 'granted', kind: 'mobile' });
  });

  it('refuses a replayed presentation (the challenge is single use)', () => {
    const { response, verdict } = presentAt(b, 'front');
    expect(verdict.granted).toBe(true);
    const replay = b.mobile.present({ doorId: 'front', response, readerId: 'front.test' });
    expect(replay).toMatchObject({ granted: false, reason: 'invalid_request' });
    expect(replay.detail).toMatch(/already used/);
  });

  it('refuses an answer to an expired challenge, or to a challenge issued for another door', () => {
    const challenge = b.mobile.challenge('front')!;
    b.clock.now += 31_000;
    const late = b.mobile.present({
      doorId: 'front',
      response: b.phone.answer(challenge.challenge, 'front'),
      readerId: 'r',
    });
    expect(late).toMatchObject({ granted: false, reason: 'invalid_request', detail: 'challenge expired' });

    const forBack = b.mobile.challenge('back')!;
    const moved = b.mobile.present({
      doorId: 'front',
      response: b.phone.answer(forBack.challenge, 'front'),
      readerId: 'r',
    });
    expect(moved).toMatchObject({ granted: false, reason: 'invalid_request' });
    expect(moved.detail).toMatch(/another door/);
  });

  it('refuses a certificate copied to another phone (the phone signature does not match)', () => {
    const thief = Phone.generate();
    thief.certificate = b.phone.certificate; // the certificate alone is not enough
    const { verdict } = presentAt(b, 'front', thief);
    expect(verdict).toMatchObject({ granted: false, reason: 'invalid_request' });
    expect(verdict.detail).toMatch(/phone signature/);
  });

  it('stops working at once after "log out everywhere" from another process (the CLI)', () => {
    expect(presentAt(b, 'front').verdict.granted).toBe(true);
    const cli = openHubStore(b.dataDir);
    try {
      expect(cli.store.people.bumpKeyEpoch('anna')).toBe(1);
    } finally {
      cli.close();
    }
    const { verdict } = presentAt(b, 'front');
    expect(verdict).toMatchObject({ granted: false, reason: 'revoked', personId: 'anna' });
    // A key issued after the bump carries the new epoch and works.
    const fresh = Phone.generate();
    fresh.install(
      issueMobileKey(
        b.opened.store,
        b.issuer,
        { personId: 'anna', phonePublicKey: fresh.publicKey, doors: ['front'] },
        b.clock.now,
      ).certificate,
    );
    expect(presentAt(b, 'front', fresh).verdict.granted).toBe(true);
  });

  it('refuses a revoked key, a suspended person, and a door outside the grants or the key scope', () => {
    const { store } = b.opened;
    // 'back' is in the key scope but no group grants it.
    expect(presentAt(b, 'back').verdict).toMatchObject({ granted: false, reason: 'no_access' });

    store.doors.add({ id: 'garage', name: 'Garage', transport: 'mqtt' });
    store.groups.addDoor('residents', 'garage');
    // Granted by the group, but not in the key's scope.
    expect(presentAt(b, 'garage').verdict).toMatchObject({ granted: false, reason: 'no_access' });

    store.people.setSuspended('anna', true);
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'suspended' });
    store.people.setSuspended('anna', false);
    store.credentials.revoke(b.credentialId, 'phone lost');
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'revoked' });
  });

  it("refuses a key outside its holder's access window, as a card", () => {
    const { store } = b.opened;
    store.people.setWindow('anna', { from: b.clock.now + DAY, until: null });
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'person_outside_window' });
    store.people.setWindow('anna', { from: b.clock.now - DAY, until: b.clock.now + DAY });
    expect(presentAt(b, 'front').verdict.granted).toBe(true);
    store.people.setWindow('anna', { from: null, until: b.clock.now });
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'person_outside_window' });
  });

  it('follows the validity window and the group schedule', () => {
    const { store } = b.opened;
    b.clock.now += 31 * DAY;
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'expired' });
    b.clock.now -= 31 * DAY;

    // 2026-11-27 12:00 UTC is a Friday, 13:00 in Berlin: outside a weekend-only schedule.
    store.schedules.set('weekend', 'Weekend', [{ day: 'sat', from: '00:00', to: '24:00' }]);
    store.groups.setSchedule('residents', 'weekend');
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'outside_schedule' });
    b.clock.now += DAY;
    expect(presentAt(b, 'front').verdict.granted).toBe(true);
  });

  it("applies the certificate's limits in the engine's order (revoked before expired before the schedule)", () => {
    const { store } = b.opened;
    // Friday 13:00 in Berlin: outside a weekend-only schedule, and the key's epoch is old.
    store.schedules.set('weekend', 'Weekend', [{ day: 'sat', from: '00:00', to: '24:00' }]);
    store.groups.setSchedule('residents', 'weekend');
    store.people.bumpKeyEpoch('anna');
    expect(presentAt(b, 'front').verdict).toMatchObject({
      granted: false,
      reason: 'revoked',
      detail: expect.stringMatching(/key epoch/),
    });
    // A key whose own window has ended is expired, whatever the schedule says.
    const late = Phone.generate();
    const issued = issueMobileKey(
      store,
      b.issuer,
      { personId: 'anna', phonePublicKey: late.publicKey, doors: ['front'], validUntil: b.clock.now + DAY },
      b.clock.now,
    );
    late.install(issued.certificate);
    b.clock.now += 2 * DAY;
    expect(presentAt(b, 'front', late).verdict).toMatchObject({ granted: false, reason: 'expired' });
  });

  it('refuses a door in lockdown and an unknown door', () => {
    b.opened.store.doors.setMode('front', 'lockdown');
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'lockdown' });
    expect(b.mobile.challenge('nowhere')).toBeNull();
    expect(b.mobile.present({ doorId: 'nowhere', response: 'x', readerId: 'r' })).toMatchObject({
      granted: false,
      reason: 'invalid_request',
    });
  });

  it('refuses certificates from issuers it does not trust, and forged ones from the cloud name', () => {
    const stranger = IssuerKey.loadOrCreate(`${b.dataDir}/other`);
    const certificate = encodeCertificate(
      {
        v: 1,
        keyId: 'mk_forged-by-stranger',
        personId: 'anna',
        phonePublicKey: b.phone.publicKey,
        scope: { doors: ['front'], groups: [] },
        validFrom: b.clock.now - DAY,
        validUntil: b.clock.now + DAY,
        keyEpoch: 0,
        issuer: 'cloud',
      },
      stranger.privateKey,
    );
    b.opened.store.credentials.addMobile('anna', 'mk_forged-by-stranger');
    const phone = new Phone(b.phone.privateKey, certificate);
    expect(presentAt(b, 'front', phone).verdict.detail).toMatch(/issuer 'cloud' is not trusted/);

    // With a (different) cloud key configured, the signature check refuses it.
    const cloudKey = toBase64url(
      generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12),
    );
    const verifier = new MobileVerifier({
      store: b.opened.store,
      issuers: trustedIssuers(b.issuer, cloudKey),
      timeZone: 'Europe/Berlin',
      now: () => b.clock.now,
    });
    const challenge = verifier.challenge('front')!;
    expect(verifier.verify('front', phone.answer(challenge.challenge, 'front'))).toMatchObject({
      granted: false,
      reason: 'invalid_request',
      detail: 'certificate signature is not valid',
    });
  });

  it('accepts a key signed by the configured cloud issuer when the store knows the credential', () => {
    const cloud = IssuerKey.loadOrCreate(`${b.dataDir}/cloud`);
    const verifier = new MobileVerifier({
      store: b.opened.store,
      issuers: trustedIssuers(b.issuer, cloud.publicKeyText()),
      timeZone: 'Europe/Berlin',
      now: () => b.clock.now,
    });
    const certificate = encodeCertificate(
      {
        v: 1,
        keyId: 'mk_from-the-cloud-01',
        personId: 'anna',
        phonePublicKey: b.phone.publicKey,
        scope: { doors: [], groups: ['residents'] },
        validFrom: b.clock.now - DAY,
        validUntil: b.clock.now + DAY,
        keyEpoch: 0,
        issuer: 'cloud',
      },
      cloud.privateKey,
    );
    const phone = new Phone(b.phone.privateKey, certificate);
    const ask = () => verifier.verify('front', phone.answer(verifier.challenge('front')!.challenge, 'front'));
    // Not mirrored into the store yet: unknown.
    expect(ask()).toMatchObject({ granted: false, reason: 'unknown_credential' });
    b.opened.store.credentials.upsert({
      id: 'c_cloud1',
      personId: 'anna',
      kind: 'mobile',
      value: 'mk_from-the-cloud-01',
    });
    expect(ask()).toMatchObject({ granted: true, credentialId: 'c_cloud1' });
  });

  it('never throws on garbage: every bad input is a refusal', () => {
    for (const junk of [
      undefined,
      null,
      42,
      '',
      'challenge',
      'a'.repeat(5000),
      '{"v":1}',
      Buffer.from('x').toString('base64url'),
    ]) {
      expect(b.verifier.verify('front', junk)).toMatchObject({ granted: false, reason: 'invalid_request' });
    }
  });

  it('bounds live challenges by refusing new ones, never by dropping one already issued', () => {
    const small = new MobileVerifier({
      store: b.opened.store,
      issuers: trustedIssuers(b.issuer),
      timeZone: 'Europe/Berlin',
      maxOutstandingChallenges: 5,
      now: () => b.clock.now,
    });
    const first = small.challenge('front')!;
    for (let i = 0; i < 4; i++) expect(small.challenge('front')).not.toBeNull();
    expect(small.issue('front')).toEqual({ ok: false, reason: 'rate_limited', retryAfterMs: 30_000 });
    expect(small.outstandingChallenges()).toBe(5);
    // The first challenge still works, once.
    const response = b.phone.answer(first.challenge, 'front');
    expect(small.verify('front', response)).toMatchObject({ granted: true, verified: true });
    expect(small.verify('front', response).detail).toMatch(/already used/);
    // When they expire there is room again.
    b.clock.now += 30_000;
    expect(small.challenge('front')).not.toBeNull();
  });

  it('refuses a forged challenge and one minted by an earlier start of the hub', () => {
    const before = new MobileVerifier({
      store: b.opened.store,
      issuers: trustedIssuers(b.issuer),
      timeZone: 'Europe/Berlin',
      now: () => b.clock.now,
    });
    const old = before.challenge('front')!;
    const forged = Buffer.alloc(32, 7).toString('base64url');
    for (const challenge of [old.challenge, forged]) {
      const verdict = b.verifier.verify('front', b.phone.answer(challenge, 'front'));
      expect(verdict).toMatchObject({ granted: false, reason: 'invalid_request' });
      expect(verdict.detail).toMatch(/unknown challenge/);
      expect(verdict.verified).toBeUndefined();
    }
  });
});
