// Keypad brute force (docs/access-rules.md "Keypad lockout", docs/offline-codes.md "Keypad daily failure
// cap"): random codes at one MQTT door's keypad, one after another as fast as the hub answers (40 a
// second at most). Must hold: a lockout after every 5 wrong codes, each as long as specified (doubling
// up to the maximum), codes typed while locked neither counted nor extending it; after 100 wrong codes
// the keypad's codes are disabled (alarm) until staff re-enable it; no guess ever opens the door; cards
// at the same door and PINs at another door keep being granted (their round trip measured against idle).
// The lockout lengths are shortened by config (keypad.lockSeconds / maxLockSeconds) so that the 20
// lockouts before the cap fit in a minute; counts, cap and doubling are the defaults.
import { BUSY_CONTROLLER_BUDGET, type HubProcess, startHubProcess } from '../../bench/hub-process.js';
import {
  api,
  check,
  grantedAnswer,
  LabDevice,
  Presenter,
  queryEvents,
  ratio,
  round,
  seedLab,
  sleep,
} from '../lab.js';
import type { Scenario, ScenarioResult } from '../scenario.js';

const MAX_FAILURES = 5; // keypad.maxFailures (default)
const DAILY_CAP = 100; // offline.keypadDailyFailureCap (default)
const GUESS_RATE = 40;
const BYSTANDER_RATE = 5;
/** Clock reading of two processes on one machine, and the hub's rounding: allowed either side of a bound. */
const CLOCK_SLACK_MS = 25;
const RESIDENTS_WITH_PINS = 20;

/** A deterministic pseudo-random generator (xorshift32), so a failed run can be repeated. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

function digits(next: () => number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += Math.floor(next() * 10).toString();
  return s;
}

interface Entry {
  sentAt: number;
  answeredAt: number;
  reason: string;
  granted: boolean;
}

interface Lockout {
  index: number;
  /** Wrong codes counted since the previous lockout (or the start). */
  countedBefore: number;
  /** The entry that locked it (the last counted one) and the last one refused while locked. */
  lockedBy: Entry;
  lastLocked: Entry;
  /** The first entry counted again after it, if any. */
  endedBy: Entry | null;
}

function analyse(entries: Entry[]) {
  const lockouts: Lockout[] = [];
  let open: Lockout | null = null;
  let counted = 0;
  let run = 0;
  let previous: Entry | null = null;
  let granted = 0;
  const other: Record<string, number> = {};
  for (const e of entries) {
    if (e.granted) granted++;
    if (e.reason === 'unknown_credential' || e.reason === 'invalid_request') {
      if (open) {
        open.endedBy = e;
        open = null;
      }
      counted++;
      run++;
    } else if (e.reason === 'locked_out') {
      if (!open && previous) {
        open = {
          index: lockouts.length + 1,
          countedBefore: run,
          lockedBy: previous,
          lastLocked: e,
          endedBy: null,
        };
        lockouts.push(open);
        run = 0;
      } else if (open) open.lastLocked = e;
    } else other[e.reason] = (other[e.reason] ?? 0) + 1;
    if (e.reason !== 'locked_out') previous = e;
  }
  return { lockouts, counted, granted, other, stillLocked: open !== null };
}

export const keypadBruteForce: Scenario = {
  name: 'keypad-brute-force',
  title:
    'Random codes at one keypad: lockouts and the daily cap as specified, no door opened, cards unaffected',
  async run({ quick, log, workDir }): Promise<ScenarioResult> {
    const codes = quick ? 1000 : 10_000;
    const lockSeconds = quick ? 1 : 2;
    const maxLockSeconds = quick ? 2 : 16;
    const deadlineMs = (quick ? 50 : 400) * 1000;
    const next = random(0x9e3779b9);

    const pins: string[] = [];
    log(
      `seeding 2,000 residents, ${RESIDENTS_WITH_PINS} with 6-digit PINs; doors kp (attacked keypad) and other`,
    );
    const seed = await seedLab(workDir, {
      doors: ['kp', 'other'],
      residents: 2000,
      extra: (store) => {
        for (let i = 0; i < RESIDENTS_WITH_PINS; i++) {
          let pin = digits(next, 6);
          while (pins.includes(pin)) pin = digits(next, 6);
          pins.push(pin);
          store.credentials.addPin(`p${i * 10}`, pin); // every tenth resident is in the residents group
        }
      },
    });
    // Guesses: 4–12 digits (every length a keypad code may have), never one of the real PINs.
    const guess = () => {
      for (;;) {
        const code = digits(next, 4 + Math.floor(next() * 9));
        if (!pins.includes(code)) return code;
      }
    };
    const hub: HubProcess = await startHubProcess(workDir, {
      // The guesser and the card reader share one device: its credential budget must not be what stops it.
      ...BUSY_CONTROLLER_BUDGET,
      GATEHOUSE_KEYPAD_LOCK_SECONDS: String(lockSeconds),
      GATEHOUSE_KEYPAD_MAX_LOCK_SECONDS: String(maxLockSeconds),
    });
    const devices: LabDevice[] = [];
    const presenters: Presenter[] = [];
    try {
      const kp = await LabDevice.connect(hub.mqttPort, 'kp', seed.secrets.kp!);
      const other = await LabDevice.connect(hub.mqttPort, 'other', seed.secrets.other!);
      devices.push(kp, other);
      const residentPin = pins[0]!;
      const pinBefore = await kp.present('keypad', residentPin, 10_000, 'resident');

      presenters.push(
        new Presenter(kp, 'card', seed.granted, BYSTANDER_RATE, grantedAnswer),
        new Presenter(other, 'keypad', pins, BYSTANDER_RATE, grantedAnswer),
      );
      const phase = (name: string) => {
        for (const p of presenters) p.phase(name);
      };
      phase('idle');
      log(`idle: cards at kp and PINs at other, ${BYSTANDER_RATE}/s each, for 6 s`);
      await sleep(6000);

      phase('guessing');
      log(
        `guessing: at least ${codes} random codes at kp, up to ${GUESS_RATE}/s, lockouts ${lockSeconds} s doubling to ${maxLockSeconds} s, until the cap disables the keypad`,
      );
      const entries: Entry[] = [];
      let lost = 0;
      let pinDuringLockout: string | null = null;
      let disabledSeenAt: number | null = null;
      const started = Date.now();
      for (let n = 0; ; n++) {
        if (n >= codes && disabledSeenAt !== null && entries.length - disabledSeenAt >= 50) break;
        if (Date.now() - started > deadlineMs) break;
        const due = started + (n * 1000) / GUESS_RATE;
        if (due > Date.now()) await sleep(due - Date.now());
        const sentAt = Date.now();
        const answer = await kp.present('keypad', guess(), 10_000, 'guess');
        if (!answer) {
          lost++;
          continue;
        }
        entries.push({ sentAt, answeredAt: Date.now(), reason: answer.reason, granted: answer.granted });
        // The first lockout: a resident's real PIN typed now is refused too (and not counted).
        if (pinDuringLockout === null && answer.reason === 'locked_out') {
          pinDuringLockout =
            (await kp.present('keypad', residentPin, 10_000, 'resident'))?.reason ?? 'no answer';
        }
        if (disabledSeenAt === null && n % 20 === 0) {
          const disabled = queryEvents<{ n: number }>(
            workDir,
            "SELECT count(*) AS n FROM events WHERE type = 'alarm.keypad_disabled'",
          )[0]!.n;
          if (disabled > 0) disabledSeenAt = entries.length;
        }
      }
      const guessSeconds = round((Date.now() - started) / 1000);
      phase('after');
      const pinWhileDisabled =
        (await kp.present('keypad', residentPin, 10_000, 'resident'))?.reason ?? 'no answer';
      // Re-enabling lifts the cap, not a lockout still running (the 20th): wait that out first.
      await sleep(maxLockSeconds * 1000 + 500);
      const enable = await api(
        hub.httpPort,
        seed.adminSession,
        'POST',
        '/api/v1/keypads/kp/device:kp-reader/enable',
      );
      const pinAfterEnable = await kp.present('keypad', residentPin, 10_000, 'resident');
      for (const p of presenters) await p.stop();

      const result = analyse(entries);
      const idleCards = presenters[0]!.figures('idle');
      const cards = presenters[0]!.figures('guessing');
      const idlePins = presenters[1]!.figures('idle');
      const otherPins = presenters[1]!.figures('guessing');
      const totals = presenters.map((p) => p.total());
      const expectedLockMs = (k: number) => Math.min(lockSeconds * 2 ** (k - 1), maxLockSeconds) * 1000;
      const durations = result.lockouts
        .filter((l) => l.endedBy !== null)
        .map((l) => ({
          k: l.index,
          expectedMs: expectedLockMs(l.index),
          // The hub locked between sending the locking code and reading its answer, and unlocked
          // between the last refused code and the first counted one: the true length lies between these.
          atLeastMs: l.lastLocked.sentAt - l.lockedBy.answeredAt,
          atMostMs: l.endedBy!.answeredAt - l.lockedBy.sentAt,
        }));
      const wrongLength = durations.filter(
        (d) => !(d.atLeastMs - CLOCK_SLACK_MS < d.expectedMs && d.expectedMs <= d.atMostMs + CLOCK_SLACK_MS),
      );
      const runs = result.lockouts.map((l) => l.countedBefore);
      const expectedLockouts = DAILY_CAP / MAX_FAILURES;
      const grantedGuessEvents = queryEvents<{ n: number }>(
        workDir,
        "SELECT count(*) AS n FROM events WHERE type = 'decision' AND door_id = 'kp' AND json_extract(data, '$.granted') = 1 AND json_extract(data, '$.request') LIKE 'guess%'",
      )[0]!.n;
      const alarms = Object.fromEntries(
        queryEvents<{ type: string; n: number }>(
          workDir,
          "SELECT type, count(*) AS n FROM events WHERE type LIKE 'alarm.keypad%' OR type = 'admin.keypad.enabled' GROUP BY type",
        ).map((r) => [r.type, r.n]),
      );
      const disabledAlarm = queryEvents<{ data: string }>(
        workDir,
        "SELECT data FROM events WHERE type = 'alarm.keypad_disabled'",
      ).map((r) => JSON.parse(r.data) as { failures?: number; reader?: string });
      const exit = hub.exit();

      const measured: ScenarioResult['measured'] = {
        codesTyped: entries.length,
        codesUnanswered: lost,
        guessSeconds,
        wrongCodesCounted: result.counted,
        lockouts: result.lockouts.length,
        lockoutLengthsMs: durations
          .map((d) => `${d.k}:${d.atLeastMs}-${d.atMostMs}(${d.expectedMs})`)
          .join(' '),
        refusedLockedOut: entries.filter((e) => e.reason === 'locked_out').length,
        guessesGranted: result.granted,
        otherGuessAnswers: JSON.stringify(result.other),
        keypadAlarms: JSON.stringify(alarms),
        cardsAtKpGranted: `${totals[0]!.correct}/${totals[0]!.presented}`,
        pinsAtOtherGranted: `${totals[1]!.correct}/${totals[1]!.presented}`,
        bystanderSlotsSkipped: totals[0]!.skipped + totals[1]!.skipped,
        cardsP99IdleMs: idleCards.p99WithLostMs,
        cardsP99DuringGuessingMs: cards.p99WithLostMs,
        cardsP99Ratio: ratio(cards.p99WithLostMs, idleCards.p99WithLostMs),
        pinsOtherDoorP99IdleMs: idlePins.p99WithLostMs,
        pinsOtherDoorP99DuringGuessingMs: otherPins.p99WithLostMs,
        pinsOtherDoorP99Ratio: ratio(otherPins.p99WithLostMs, idlePins.p99WithLostMs),
      };
      const checks = [
        check(
          'at least the planned number of codes was typed, every one answered',
          entries.length >= codes && lost === 0,
          `${entries.length} typed, ${lost} unanswered`,
        ),
        check(
          'no guess opened the door (no guess granted, none in the event log)',
          result.granted === 0 && grantedGuessEvents === 0,
          `${result.granted} granted answers, ${grantedGuessEvents} granted events`,
        ),
        check(
          `every lockout came after exactly ${MAX_FAILURES} wrong codes`,
          runs.length > 0 && runs.every((r) => r === MAX_FAILURES),
          `wrong codes before each lockout: ${runs.join(',')}`,
        ),
        check(
          `each lockout lasted ${lockSeconds} s doubling up to ${maxLockSeconds} s, not extended by the codes typed meanwhile`,
          durations.length > 0 && wrongLength.length === 0,
          wrongLength.length === 0
            ? `${durations.length} lockouts timed`
            : `wrong: ${JSON.stringify(wrongLength)}`,
        ),
        check(
          `after ${DAILY_CAP} wrong codes (${expectedLockouts} lockouts) the keypad's codes are disabled and nothing more is counted`,
          result.counted === DAILY_CAP && result.lockouts.length === expectedLockouts && result.stillLocked,
          `${result.counted} counted, ${result.lockouts.length} lockouts, locked at the end: ${result.stillLocked}`,
        ),
        check(
          'alarm.keypad_disabled raised once for this keypad with the count',
          disabledAlarm.length === 1 &&
            disabledAlarm[0]!.failures === DAILY_CAP &&
            disabledAlarm[0]!.reader === 'device:kp-reader',
          JSON.stringify(disabledAlarm),
        ),
        check(
          'a lockout alarm from the 2nd lockout on',
          alarms['alarm.keypad_locked_out'] === expectedLockouts - 1,
          `${alarms['alarm.keypad_locked_out'] ?? 0} alarm.keypad_locked_out for ${result.lockouts.length} lockouts`,
        ),
        check(
          "a resident's PIN at the attacked keypad: granted before, locked_out during a lockout and while disabled, granted after staff re-enable it",
          pinBefore?.granted === true &&
            pinDuringLockout === 'locked_out' &&
            pinWhileDisabled === 'locked_out' &&
            enable.status === 200 &&
            pinAfterEnable?.granted === true,
          `before ${pinBefore?.reason}, during ${pinDuringLockout}, disabled ${pinWhileDisabled}, enable HTTP ${enable.status}, after ${pinAfterEnable?.reason}`,
        ),
        check(
          'cards at the same door: every one granted',
          totals[0]!.presented > 0 && totals[0]!.correct === totals[0]!.presented,
          `${totals[0]!.correct}/${totals[0]!.presented}, during guessing ${JSON.stringify(cards.byReason)}`,
        ),
        check(
          'PINs at another door: every one granted',
          totals[1]!.presented > 0 && totals[1]!.correct === totals[1]!.presented,
          `${totals[1]!.correct}/${totals[1]!.presented}, during guessing ${JSON.stringify(otherPins.byReason)}`,
        ),
        check('the hub did not crash', exit === null && hub.log().fatalLines === 0),
      ];
      return {
        did: `Typed ${entries.length} random 4–12 digit codes (never a real PIN) at door kp's keypad in ${guessSeconds} s, with lockouts shortened to ${lockSeconds} s doubling to ${maxLockSeconds} s, while cards at kp and PINs at door other were presented ${BYSTANDER_RATE}/s each; then re-enabled the keypad over the HTTP API.`,
        measured,
        checks,
      };
    } finally {
      for (const p of presenters) await p.stop().catch(() => undefined);
      for (const d of devices) await d.close();
      await hub.stop();
    }
  },
};
