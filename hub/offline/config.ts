// Offline codes, keypad cap and trusted time settings: the `offline` section of the main config schema.
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';

export const OfflineConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Accept daily / hour-window / one-time / first-use codes derived from the code secret.',
    }),
    dailyMacDigits: Type.Integer({
      minimum: 5,
      maximum: 10,
      default: 7,
      description:
        'Check digits of a daily code; a daily code is 2 + this long (9 by default). The cloud must use the same value.',
    }),
    windowedMacDigits: Type.Integer({
      minimum: 5,
      maximum: 7,
      default: 7,
      description:
        'Check digits of hour-window, one-time and first-use codes; they are 5 + this long (12 by default). The cloud must use the same value.',
    }),
    graceMinutes: Type.Integer({
      minimum: 0,
      maximum: 120,
      default: 15,
      description: 'A daily code also works this many minutes before its midnight and after the next one.',
    }),
    firstUseMinutes: Type.Integer({
      minimum: 1,
      maximum: 1440,
      default: 15,
      description: 'How long a first-use code keeps working after it was first entered.',
    }),
    keypadDailyFailureCap: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 100,
      description:
        "Wrong codes on one keypad within 24 h that disable that keypad's codes (alarm) until staff run `gatehouse keypad enable`. Cards and mobile keys keep working.",
    }),
    maxDailyGuessProbability: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.0001,
      description:
        'Warn staff when the chance that someone guessing at one keypad gets in within a day is above this (see docs/offline-codes.md).',
    }),
    assumedPinDigits: Type.Integer({
      minimum: 4,
      maximum: 12,
      default: 6,
      description:
        'Length assumed, for the guessing figure, of a personal PIN whose length the hub has not seen (PINs are stored hashed).',
    }),
    guessEntrySeconds: Type.Integer({
      minimum: 1,
      maximum: 60,
      default: 2,
      description: 'Fastest time to type one code on a keypad, for the guessing figure.',
    }),
    untrustedTime: Type.Union([Type.Literal('refuse-timed-codes'), Type.Literal('accept')], {
      default: 'refuse-timed-codes',
      description:
        'When the clock is not trusted: refuse daily/hour-window/one-time/first-use codes (personal cards, PINs and mobile keys keep working), or accept them anyway.',
    }),
    clock: Type.Object(
      {
        rtc: Type.Boolean({
          default: false,
          description:
            'The hub has a battery-backed real-time clock (e.g. DS3231): its time is trusted without NTP or the cloud.',
        }),
        maxBackwardJumpSeconds: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 60,
          description: 'A clock step backwards by more than this is refused and raises alarm.clock_jump.',
        }),
        confirmMaxAgeHours: Type.Integer({
          minimum: 1,
          maximum: 8760,
          default: 168,
          description:
            'Without an RTC, the time stays trusted this long after the last NTP or cloud confirmation.',
        }),
        cloudToleranceSeconds: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 120,
          description: 'The cloud time confirms the clock when they differ by at most this.',
        }),
        ntpCheck: Type.Boolean({
          default: true,
          description: 'Ask systemd (`timedatectl`) every 5 minutes whether NTP has synchronised the clock.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export type OfflineConfig = Static<typeof OfflineConfigSchema>;

/** Fills defaults and validates an `offline` section on its own. Throws with every problem. */
export function resolveOfflineConfig(value: unknown = {}): OfflineConfig {
  const filled = Value.Default(OfflineConfigSchema, Value.Clone(value ?? {}));
  if (!Value.Check(OfflineConfigSchema, filled)) {
    const problems = [...Value.Errors(OfflineConfigSchema, filled)].map(
      (e) => `offline${(e as { instancePath?: string }).instancePath ?? ''}: ${e.message}`,
    );
    throw new Error(`offline config is not valid:\n  ${problems.join('\n  ')}`);
  }
  if (filled.dailyMacDigits + 2 === filled.windowedMacDigits + 5) {
    throw new Error('offline config is not valid: daily and windowed codes must differ in length');
  }
  return filled;
}
