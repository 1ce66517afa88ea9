// A building on real files: a store in a temp data dir, the hub's issuer key beside it, a phone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBus } from '../../hub/bus.js';
import { IssuerKey, issueMobileKey, trustedIssuers } from '../../hub/mobile/issuer.js';
import { Phone } from '../../hub/mobile/phone.js';
import { MobileAccess } from '../../hub/mobile/service.js';
import { MobileVerifier } from '../../hub/mobile/verifier.js';
import { type OpenedStore, openHubStore } from '../../hub/open-store.js';

export interface Building {
  dataDir: string;
  opened: OpenedStore;
  issuer: IssuerKey;
  bus: EventBus;
  verifier: MobileVerifier;
  mobile: MobileAccess;
  clock: { now: number };
  /** A phone holding a key for person 'anna' that opens door 'front'. */
  phone: Phone;
  credentialId: string;
  cleanup(): Promise<void>;
}

export const DAY = 86_400_000;

/** Store with door 'front' (mqtt) and 'back', person 'anna' in group 'residents' (front only). */
export async function building(options: { realClock?: boolean } = {}): Promise<Building> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-mobile-'));
  const clock = { now: Date.UTC(2026, 10, 27, 12, 0, 0) };
  const now = options.realClock ? Date.now : () => clock.now;
  const opened = openHubStore(dataDir, { now });
  const { store } = opened;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.doors.add({ id: 'back', name: 'Back', transport: 'mqtt' });
  store.people.add({ id: 'anna', name: 'Anna', kind: 'resident' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.groups.addMember('residents', 'anna');
  const issuer = IssuerKey.loadOrCreate(dataDir);
  const bus = new EventBus();
  const verifier = new MobileVerifier({
    store,
    issuers: trustedIssuers(issuer),
    timeZone: 'Europe/Berlin',
    now,
  });
  const mobile = new MobileAccess({ store, bus, verifier });
  await mobile.start();
  const phone = Phone.generate();
  const issued = issueMobileKey(
    store,
    issuer,
    {
      personId: 'anna',
      phonePublicKey: phone.publicKey,
      doors: ['front', 'back'],
      validFrom: now() - DAY,
      validUntil: now() + 30 * DAY,
    },
    now(),
  );
  phone.install(issued.certificate);
  return {
    dataDir,
    opened,
    issuer,
    bus,
    verifier,
    mobile,
    clock,
    phone,
    credentialId: issued.credentialId,
    async cleanup() {
      await mobile.stop();
      await opened.store.stop();
      opened.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The whole exchange in-process: challenge, phone signs, hub verifies. */
export function presentAt(b: Building, doorId: string, phone: Phone = b.phone) {
  const issued = b.mobile.challenge(doorId);
  if (!issued) throw new Error(`no challenge for ${doorId}`);
  const response = phone.answer(issued.challenge, doorId);
  return { response, verdict: b.mobile.present({ doorId, response, readerId: `${doorId}.test` }) };
}
