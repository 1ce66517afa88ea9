// Offline codes through the real keypad path (DecisionService + store), wired as hub/app.ts does.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus, type Presentation } from '../../hub/bus.js';
import { DecisionService } from '../../hub/decisions.js';
import { silentLogger } from '../../hub/logger.js';
import { issueCode, MS_PER_HOUR } from '../../hub/offline/codes.js';
import { resolveOfflineConfig } from '../../hub/offline/config.js';
import { createOffline, type OfflineParts } from '../../hub/offline/index.js';
import { OfflineCodes } from '../../hub/offline/offline-codes.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { seedBuilding, type TempData, tempData, ZONE } from './helpers.js';

const NOON = Date.parse('2026-11-27T11:00:00Z');

describe('offline codes at the keypad (decision path)', () => {
  let data: TempData;
  let opened: OpenedStore;
  let parts: OfflineParts;
  let service: DecisionService;
  let system: number;

  beforeEach(async () => {
    system = NOON;
    data = tempData();
    opened = data.open(() => system);
    seedBuilding(opened);
    opened.store.credentials.addPin('alice', '97531864');
    opened.store.credentials.addCard('alice', '04A1B2C3');
    parts = createOffline({
      store: opened.store,
      dataDir: data.dataDir,
      timeZone: ZONE,
      config: resolveOfflineConfig({ clock: { ntpCheck: false } }),
      keypadPolicy: {},
      systemNow: () => system,
    });
    await parts.clock.start();
    service = new DecisionService({
      store: opened.store,
      bus: new EventBus(),
      lockout: parts.lockout,
      timeZone: ZONE,
      now: () => parts.clock.nowMs(),
      logger: silentLogger(),
      offlineCodes: parts.codes,
    });
    await service.start();
  });
  afterEach(async () => {
    await service.stop();
    await parts.clock.stop();
    data.cleanup();
  });

  const keypad = (value: string, doorId = 'front'): Presentation => ({
    doorId,
    kind: 'keypad',
    value,
    readerId: 'kp1',
  });

  it('grants a cloud-issued code with an audit event naming its serial; a revocation from the CLI stops it at once', () => {
    parts.clock.confirm('cloud', NOON);
    const code = issueCode(
      parts.secret.bytes(),
      { type: 'daily', date: '2026-11-27', index: 12, scope: 'site' },
      ZONE,
    );
    expect(service.decide(keypad(code.digits))).toMatchObject({
      granted: true,
      reason: 'granted',
      credentialId: code.serial,
    });
    const event = opened.store.events.list({ type: 'decision' })[0]!;
    expect(event).toMatchObject({ credentialId: code.serial, data: { granted: true, kind: 'keypad' } });
    expect(JSON.stringify(event)).not.toContain(code.digits);

    // `gatehouse code revoke` runs in another process: its own connection to the same files.
    const cli = data.open();
    new OfflineCodes({
      store: cli.store,
      secret: data.secret(),
      timeZone: ZONE,
      config: resolveOfflineConfig({}),
    }).revoke(code.serial, { actor: 'cli' });
    expect(service.decide(keypad(code.digits, 'garage'))).toMatchObject({
      granted: false,
      reason: 'revoked',
    });
  });

  it('refuses a replayed one-time code', () => {
    parts.clock.confirm('ntp');
    const code = issueCode(
      parts.secret.bytes(),
      { type: 'once', startHour: Math.floor(NOON / MS_PER_HOUR), hours: 1, index: 0, scope: 'door:front' },
      ZONE,
    );
    expect(service.decide(keypad(code.digits)).granted).toBe(true);
    system += 60_000;
    expect(service.decide(keypad(code.digits))).toMatchObject({ granted: false, reason: 'expired' });
  });

  it('while time is untrusted: timed codes are refused (not counted as guesses), PINs and cards keep working', () => {
    const code = issueCode(
      parts.secret.bytes(),
      { type: 'daily', date: '2026-11-27', index: 1, scope: 'site' },
      ZONE,
    );
    for (let i = 0; i < 10; i++) {
      expect(service.decide(keypad(code.digits))).toMatchObject({ granted: false, reason: 'no_access' });
    }
    expect(service.decide(keypad('97531864')).granted).toBe(true);
    expect(service.decide({ doorId: 'front', kind: 'card', value: '04A1B2C3', readerId: 'r' }).granted).toBe(
      true,
    );
    expect(parts.lockout.isLocked('front/kp1', parts.clock.nowMs()).locked).toBe(false);
    // The audit event names why (docs/trusted-time.md): the reason code alone would read like a missing group.
    opened.store.events.flush();
    const refused = opened.store.events.list({ type: 'decision' }).find((e) => e.data.reason === 'no_access');
    expect(refused).toMatchObject({ credentialId: code.serial, data: { detail: 'time_untrusted' } });
  });

  it("a code issued for a person is refused outside that person's access window; a code for nobody is not", () => {
    parts.clock.confirm('ntp');
    const now = parts.clock.nowMs();
    const hers = parts.codes.issue({ type: 'daily', scope: 'site', date: '2026-11-27', personId: 'alice' });
    const anyone = parts.codes.issue({ type: 'daily', scope: 'site', date: '2026-11-27' });
    opened.store.people.setWindow('alice', { from: null, until: now - 1 });
    expect(service.decide(keypad(hers.digits))).toMatchObject({
      granted: false,
      reason: 'person_outside_window',
    });
    expect(parts.codes.verify('front', hers.digits)).toMatchObject({ reason: 'person_outside_window' });
    expect(service.decide(keypad(anyone.digits)).granted).toBe(true);
    opened.store.people.setWindow('alice', { from: now - 1, until: null });
    expect(service.decide(keypad(hers.digits)).granted).toBe(true);
  });

  it("codes are refused in the engine's order: lockdown, revoked, suspended, then untrusted time", () => {
    const issued = parts.codes.issue({ type: 'daily', scope: 'site', date: '2026-11-27', personId: 'alice' });
    // Untrusted time and a suspended holder: the suspension is the reason (deny wins), as for a PIN.
    opened.store.people.setSuspended('alice', true);
    expect(service.decide(keypad(issued.digits))).toMatchObject({ granted: false, reason: 'suspended' });
    expect(parts.codes.verify('front', issued.digits)).toMatchObject({ reason: 'suspended' });
    parts.codes.revoke(issued.serial, { actor: 'cli' });
    expect(service.decide(keypad(issued.digits))).toMatchObject({ granted: false, reason: 'revoked' });
    // A door in lockdown refuses every code, also when asked directly.
    parts.clock.confirm('ntp');
    const site = issueCode(
      parts.secret.bytes(),
      { type: 'daily', date: '2026-11-27', index: 4, scope: 'site' },
      ZONE,
    );
    opened.store.doors.setMode('front', 'lockdown');
    expect(parts.codes.verify('front', site.digits)).toMatchObject({ granted: false, reason: 'lockdown' });
    expect(service.decide(keypad(site.digits))).toMatchObject({ granted: false, reason: 'lockdown' });
    opened.store.doors.setMode('front', 'normal');
    expect(service.decide(keypad(site.digits))).toMatchObject({ granted: true, credentialId: site.serial });
  });

  it('a clock set back a day does not bring yesterday back', () => {
    parts.clock.confirm('cloud', NOON);
    const yesterday = issueCode(
      parts.secret.bytes(),
      { type: 'daily', date: '2026-11-26', index: 3, scope: 'site' },
      ZONE,
    );
    expect(service.decide(keypad(yesterday.digits)).reason).toBe('unknown_credential');
    system -= 86_400_000;
    expect(service.decide(keypad(yesterday.digits)).granted).toBe(false);
    expect(service.decide(keypad('97531864')).granted).toBe(true);
  });
});
