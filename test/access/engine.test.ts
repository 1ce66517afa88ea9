import { describe, expect, it } from 'vitest';
import {
  canonicalCardValue,
  credentialKindFor,
  type DecisionInput,
  decide,
  isKeypadValue,
  REFUSAL_ORDER,
  validatePresentationValue,
} from '../../hub/access/index.js';
import type { Decision } from '../../hub/bus.js';
import { type Credential, type Person, REASONS, type ScheduleInterval } from '../../hub/domain.js';

// Wed 2026-11-25 12:00 in Berlin (11:00 UTC).
const NOW = Date.parse('2026-11-25T11:00:00Z');
const HOUR = 3_600_000;

const alice: Person = {
  id: 'person-alice',
  name: 'Alice',
  kind: 'resident',
  unitId: 'unit-4b',
  suspended: false,
  keyEpoch: 1,
  accessFrom: null,
  accessUntil: null,
  createdAt: 0,
};

const aliceCard: Credential = {
  id: 'cred-card-1',
  personId: alice.id,
  kind: 'card',
  label: 'card …A1B2',
  validFrom: null,
  validUntil: null,
  revokedAt: null,
  createdAt: 0,
};

const alicePin: Credential = { ...aliceCard, id: 'cred-pin-1', kind: 'pin', label: 'PIN' };

const ALWAYS = [{ groupId: 'residents', intervals: null }];

function input(overrides: Partial<DecisionInput> = {}): DecisionInput {
  return {
    now: NOW,
    timeZone: 'Europe/Berlin',
    door: { id: 'front', mode: 'normal', unlockMs: 5000 },
    kind: 'card',
    match: { credential: aliceCard, person: alice },
    grants: ALWAYS,
    holidays: new Set(),
    keypadLocked: false,
    ...overrides,
  };
}

function withCredential(changes: Partial<Credential>, person: Partial<Person> = {}): Partial<DecisionInput> {
  return { match: { credential: { ...aliceCard, ...changes }, person: { ...alice, ...person } } };
}

const denied = (reason: Decision['reason'], known = true): Decision => ({
  granted: false,
  reason,
  personId: known ? alice.id : null,
  credentialId: known ? aliceCard.id : null,
});

describe('decide', () => {
  it('grants a valid card on a normal door, with the door unlock time and who it was', () => {
    expect(decide(input())).toEqual({
      granted: true,
      reason: 'granted',
      unlockMs: 5000,
      personId: alice.id,
      credentialId: aliceCard.id,
    });
  });

  it.each<[string, Partial<DecisionInput>, Decision]>([
    ['door in lockdown', { door: { id: 'front', mode: 'lockdown', unlockMs: 5000 } }, denied('lockdown')],
    [
      'keypad locked out',
      { kind: 'keypad', keypadLocked: true, match: { credential: alicePin, person: alice } },
      { granted: false, reason: 'locked_out', personId: alice.id, credentialId: alicePin.id },
    ],
    ['nothing matched', { match: null }, denied('unknown_credential', false)],
    ['credential revoked', withCredential({ revokedAt: NOW - HOUR }), denied('revoked')],
    ['person suspended', withCredential({}, { suspended: true }), denied('suspended')],
    [
      "person's access window not started",
      withCredential({}, { accessFrom: NOW + 1 }),
      denied('person_outside_window'),
    ],
    [
      "person's access window ended",
      withCredential({}, { accessUntil: NOW }),
      denied('person_outside_window'),
    ],
    ['not valid yet', withCredential({ validFrom: NOW + 1 }), denied('not_yet_valid')],
    ['expired', withCredential({ validUntil: NOW - 1 }), denied('expired')],
    ['no group for this door', { grants: [] }, denied('no_access')],
    [
      'outside every schedule',
      { grants: [{ groupId: 'weekend', intervals: [{ day: 'sat', from: '00:00', to: '24:00' }] }] },
      denied('outside_schedule'),
    ],
    ['a broken clock', { now: Number.NaN }, denied('invalid_request')],
  ])('denies: %s', (_, overrides, expected) => {
    expect(decide(input(overrides))).toEqual(expected);
  });

  describe('precedence: the most specific denial wins', () => {
    it('lockdown beats everything, even a revoked credential on a locked-out keypad', () => {
      const result = decide(
        input({
          door: { id: 'front', mode: 'lockdown', unlockMs: 5000 },
          kind: 'keypad',
          keypadLocked: true,
          match: { credential: { ...alicePin, revokedAt: 1 }, person: { ...alice, suspended: true } },
          grants: [],
        }),
      );
      expect(result.reason).toBe('lockdown');
      expect(result.granted).toBe(false);
    });

    it('lockdown refuses even with no credential matched', () => {
      expect(decide(input({ door: { id: 'front', mode: 'lockdown', unlockMs: 5000 }, match: null }))).toEqual(
        denied('lockdown', false),
      );
    });

    it('a malformed value is invalid_request, after lockdown and before the keypad lockout', () => {
      expect(decide(input({ malformed: true, match: null })).reason).toBe('invalid_request');
      expect(decide(input({ malformed: true, kind: 'keypad', keypadLocked: true, match: null })).reason).toBe(
        'invalid_request',
      );
      expect(
        decide(
          input({ malformed: true, match: null, door: { id: 'front', mode: 'lockdown', unlockMs: 5000 } }),
        ).reason,
      ).toBe('lockdown');
      // Even a match cannot outweigh a value the caller found malformed.
      expect(decide(input({ malformed: true })).granted).toBe(false);
    });

    it('a locked-out keypad refuses before looking at the code', () => {
      expect(decide(input({ kind: 'keypad', keypadLocked: true, match: null })).reason).toBe('locked_out');
    });

    it('keypad lockout does not affect cards or mobile keys at the same door', () => {
      expect(decide(input({ kind: 'card', keypadLocked: true })).reason).toBe('granted');
      const phone: Credential = { ...aliceCard, id: 'cred-mobile-1', kind: 'mobile' };
      expect(
        decide(input({ kind: 'mobile', keypadLocked: true, match: { credential: phone, person: alice } }))
          .reason,
      ).toBe('granted');
    });

    it.each<[string, Partial<Credential>, Partial<Person>, Decision['reason']]>([
      ['revoked + suspended', { revokedAt: 1 }, { suspended: true }, 'revoked'],
      ['revoked + expired', { revokedAt: 1, validUntil: NOW - 1 }, {}, 'revoked'],
      ['suspended + expired', { validUntil: NOW - 1 }, { suspended: true }, 'suspended'],
      ['suspended + not yet valid', { validFrom: NOW + HOUR }, { suspended: true }, 'suspended'],
      ['revoked + outside window', { revokedAt: 1 }, { accessUntil: NOW - 1 }, 'revoked'],
      ['suspended + outside window', {}, { suspended: true, accessUntil: NOW - 1 }, 'suspended'],
      ['outside window + expired', { validUntil: NOW - 1 }, { accessFrom: NOW + 1 }, 'person_outside_window'],
      ['outside window + not yet valid', { validFrom: NOW + 1 }, { accessUntil: 1 }, 'person_outside_window'],
      ['not yet valid + no access', { validFrom: NOW + HOUR }, {}, 'not_yet_valid'],
    ])('%s -> %s', (_, credentialChanges, personChanges, reason) => {
      expect(decide(input({ ...withCredential(credentialChanges, personChanges), grants: [] })).reason).toBe(
        reason,
      );
    });

    it('expired beats no access, no access beats outside schedule', () => {
      expect(decide(input({ ...withCredential({ validUntil: NOW }), grants: [] })).reason).toBe('expired');
      expect(decide(input({ grants: [] })).reason).toBe('no_access');
    });
  });

  describe('validity window: from is inclusive, until is exclusive', () => {
    it.each<[string, Partial<Credential>, Decision['reason']]>([
      ['one ms before validFrom', { validFrom: NOW + 1 }, 'not_yet_valid'],
      ['exactly validFrom', { validFrom: NOW }, 'granted'],
      ['one ms before validUntil', { validUntil: NOW + 1 }, 'granted'],
      ['exactly validUntil', { validUntil: NOW }, 'expired'],
      ['inside a window', { validFrom: NOW - HOUR, validUntil: NOW + HOUR }, 'granted'],
      ['a malformed bound', { validUntil: Number.NaN }, 'expired'],
    ])('%s -> %s', (_, changes, reason) => {
      expect(decide(input(withCredential(changes))).reason).toBe(reason);
    });
  });

  describe("the person's access window: from is inclusive, until is exclusive", () => {
    it.each<[string, Partial<Person>, Decision['reason']]>([
      ['one ms before accessFrom', { accessFrom: NOW + 1 }, 'person_outside_window'],
      ['exactly accessFrom', { accessFrom: NOW }, 'granted'],
      ['one ms before accessUntil', { accessUntil: NOW + 1 }, 'granted'],
      ['exactly accessUntil', { accessUntil: NOW }, 'person_outside_window'],
      ['inside a window', { accessFrom: NOW - HOUR, accessUntil: NOW + HOUR }, 'granted'],
      ['a malformed bound', { accessFrom: Number.NaN }, 'person_outside_window'],
      [
        'a missing bound (a damaged record)',
        { accessUntil: undefined as unknown as null },
        'person_outside_window',
      ],
    ])('%s -> %s', (_, changes, reason) => {
      expect(decide(input(withCredential({}, changes))).reason).toBe(reason);
    });

    it('applies to PINs and mobile keys too', () => {
      const shut: Partial<Person> = { accessUntil: NOW - HOUR };
      const phone: Credential = { ...aliceCard, id: 'cred-mobile-1', kind: 'mobile' };
      for (const [kind, credential] of [
        ['keypad', alicePin],
        ['mobile', phone],
      ] as const) {
        expect(decide(input({ kind, match: { credential, person: { ...alice, ...shut } } })).reason).toBe(
          'person_outside_window',
        );
      }
    });
  });

  describe('schedules', () => {
    const officeHours: ScheduleInterval[] = [{ day: 'wed', from: '08:00', to: '18:00' }];
    const nights: ScheduleInterval[] = [{ day: 'tue', from: '22:00', to: '06:00' }];

    it('grants if any one group allows now', () => {
      const grants = [
        { groupId: 'night-shift', intervals: nights },
        { groupId: 'office', intervals: officeHours },
      ];
      expect(decide(input({ grants })).reason).toBe('granted');
      expect(decide(input({ grants, now: Date.parse('2026-11-25T17:00:00Z') })).reason).toBe(
        'outside_schedule',
      ); // 18:00
      expect(decide(input({ grants, now: Date.parse('2026-11-25T04:00:00Z') })).reason).toBe('granted'); // Wed 05:00
    });

    it('evaluates schedules in the building time zone', () => {
      const grants = [{ groupId: 'office', intervals: officeHours }];
      const earlyUtc = Date.parse('2026-11-25T07:30:00Z'); // 08:30 Berlin, 02:30 New York
      expect(decide(input({ grants, now: earlyUtc })).reason).toBe('granted');
      expect(decide(input({ grants, now: earlyUtc, timeZone: 'America/New_York' })).reason).toBe(
        'outside_schedule',
      );
    });

    it('on a holiday only holiday intervals apply', () => {
      const grants = [
        {
          groupId: 'office',
          intervals: [...officeHours, { day: 'hol' as const, from: '10:00', to: '11:00' }],
        },
      ];
      const holidays = new Set(['2026-11-25']);
      expect(decide(input({ grants, holidays })).reason).toBe('outside_schedule'); // 12:00
      expect(decide(input({ grants, holidays, now: NOW - 90 * 60_000 })).reason).toBe('granted'); // 10:30
    });

    it('fails closed with an unknown time zone', () => {
      const grants = [{ groupId: 'office', intervals: officeHours }];
      expect(decide(input({ grants, timeZone: 'Nowhere/Special' })).reason).toBe('outside_schedule');
      expect(decide(input({ timeZone: 'Nowhere/Special' })).reason).toBe('granted'); // "always" needs no clock
    });
  });

  it('decides normally on a door held unlocked on purpose', () => {
    const door = { id: 'lobby', mode: 'unlocked' as const, unlockMs: 3000 };
    expect(decide(input({ door }))).toMatchObject({ granted: true, unlockMs: 3000 });
    expect(decide(input({ door, ...withCredential({ revokedAt: 1 }) })).reason).toBe('revoked');
  });

  it('treats a match of the wrong kind or owner as no match', () => {
    expect(decide(input({ kind: 'keypad' }))).toEqual(denied('unknown_credential', false)); // card record for a keypad entry
    expect(decide(input({ kind: 'keypad', match: { credential: alicePin, person: alice } })).reason).toBe(
      'granted',
    );
    const mallory: Person = { ...alice, id: 'person-mallory' };
    expect(decide(input({ match: { credential: aliceCard, person: mallory } })).reason).toBe(
      'unknown_credential',
    );
  });

  it('refuses an unknown presentation kind', () => {
    expect(decide(input({ kind: 'telepathy' as DecisionInput['kind'] })).reason).toBe('invalid_request');
  });
});

describe('REFUSAL_ORDER', () => {
  it('is the order decide() refuses in: lifting each refusal in turn reveals the next', () => {
    // Everything wrong at once; fixed one by one in REFUSAL_ORDER, decide must name each in turn.
    let door: DecisionInput['door'] = { id: 'front', mode: 'lockdown', unlockMs: 5000 };
    let malformed = true;
    let keypadLocked = true;
    let credential: Credential = {
      ...alicePin,
      revokedAt: 1,
      validFrom: NOW + HOUR,
      validUntil: NOW - HOUR,
    };
    let person: Person = { ...alice, suspended: true, accessUntil: NOW - HOUR };
    let matched = false;
    let grants: DecisionInput['grants'] = [];
    const fixes: Record<(typeof REFUSAL_ORDER)[number], () => void> = {
      lockdown: () => (door = { ...door, mode: 'normal' }),
      invalid_request: () => (malformed = false),
      locked_out: () => (keypadLocked = false),
      unknown_credential: () => (matched = true),
      revoked: () => (credential = { ...credential, revokedAt: null }),
      suspended: () => (person = { ...person, suspended: false }),
      person_outside_window: () => (person = { ...person, accessUntil: null }),
      not_yet_valid: () => (credential = { ...credential, validFrom: null }),
      expired: () => (credential = { ...credential, validUntil: null }),
      no_access: () =>
        (grants = [{ groupId: 'weekend', intervals: [{ day: 'sat', from: '00:00', to: '24:00' }] }]),
      outside_schedule: () => (grants = ALWAYS),
    };
    const now = () =>
      decide(
        input({
          door,
          malformed,
          keypadLocked,
          kind: 'keypad',
          match: matched ? { credential, person } : null,
          grants,
        }),
      ).reason;
    for (const reason of REFUSAL_ORDER) {
      expect(now()).toBe(reason);
      fixes[reason]();
    }
    expect(now()).toBe('granted');
  });

  it('names every refusal reason there is', () => {
    const decided = REASONS.filter((r) => r !== 'granted' && r !== 'rate_limited');
    expect([...REFUSAL_ORDER].sort()).toEqual([...decided].sort());
  });
});

describe('credentialKindFor', () => {
  it('looks keypad entries up as PINs', () => {
    expect(credentialKindFor('keypad')).toBe('pin');
    expect(credentialKindFor('card')).toBe('card');
    expect(credentialKindFor('mobile')).toBe('mobile');
  });
});

describe('validatePresentationValue', () => {
  it.each<[unknown, unknown, string]>([
    ['card', '04:a2:2b:1c', '04A22B1C'],
    ['card', '04 A2 2B 1C 9F 61 80', '04A22B1C9F6180'],
    ['card', 'deadbeef', 'DEADBEEF'],
    ['card', 'AB', 'AB'],
    ['keypad', '1234', '1234'],
    ['keypad', '000000123456', '000000123456'],
    ['mobile', 'eyJhbGciOi.token', 'eyJhbGciOi.token'],
  ])('%s %j is accepted as %j', (kind, value, canonical) => {
    expect(validatePresentationValue(kind, value)).toEqual({ ok: true, value: canonical });
  });

  it.each<[unknown, unknown, RegExp]>([
    ['card', 'A', /2–64 hex digits/],
    ['card', 'GG00', /2–64 hex digits/],
    ['card', '0x04A2', /2–64 hex digits/],
    ['card', 'A'.repeat(65), /2–64 hex digits/],
    ['card', '', /2–64 hex digits/],
    ['card', 42, /must be a string/],
    ['keypad', '123', /4–12 digits/],
    ['keypad', '1234567890123', /4–12 digits/],
    ['keypad', '12a4', /4–12 digits/],
    ['keypad', ' 1234', /4–12 digits/],
    ['mobile', '', /must not be empty/],
    ['mobile', 'x'.repeat(4097), /at most 4096/],
    ['pin', '1234', /kind must be one of card, keypad, mobile/],
  ])('%s %j is refused', (kind, value, message) => {
    const result = validatePresentationValue(kind, value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });

  it('states the clean-up once: canonicalCardValue and isKeypadValue agree with it', () => {
    expect(canonicalCardValue('04:a2 2b:1c')).toBe('04A22B1C');
    expect(canonicalCardValue('0x04')).toBeNull();
    expect(canonicalCardValue('A'.repeat(300))).toBeNull();
    expect(canonicalCardValue(42)).toBeNull();
    expect(isKeypadValue('1234')).toBe(true);
    expect(isKeypadValue('123')).toBe(false);
    expect(isKeypadValue(1234)).toBe(false);
  });

  it('never echoes the entered code in the error', () => {
    const result = validatePresentationValue('keypad', '98765432109876');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).not.toContain('98765');
  });
});
