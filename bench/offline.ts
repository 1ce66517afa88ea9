// Keypad verification with 1,000 personal codes: a plain PIN lookup (baseline), a keypad entry that
// matches nothing (PIN lookup + the derived-code search, the common guess path), a valid daily code,
// and a full keypad decision through DecisionService. Goal: p99 ≤ 5 ms. Run by bench/run.ts or alone:
// `npx tsx bench/offline.ts`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus } from '../hub/bus.js';
import { DecisionService } from '../hub/decisions.js';
import { silentLogger } from '../hub/logger.js';
import { CappedKeypadLockout } from '../hub/offline/cap.js';
import { issueCode } from '../hub/offline/codes.js';
import { resolveOfflineConfig } from '../hub/offline/config.js';
import { OfflineCodes } from '../hub/offline/offline-codes.js';
import { CodeSecret } from '../hub/offline/secret.js';
import { openHubStore } from '../hub/open-store.js';
import type { Figure, SuiteResult } from './report.js';
import { summarize } from './stats.js';

const PERSONAL_CODES = 1000;
const SAMPLES = 5000;
const ZONE = 'Europe/Berlin';

function time(samples: number, fn: (i: number) => void): ReturnType<typeof summarize> {
  for (let i = 0; i < 200; i++) fn(i); // warm up
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    fn(i);
    out.push(performance.now() - start);
  }
  return summarize(out);
}

export async function benchOffline(): Promise<SuiteResult> {
  const dir = mkdtempSync(
    path.join(process.platform === 'linux' ? '/dev/shm' : tmpdir(), 'gatehouse-bench-offline-'),
  );
  const dataDir = path.join(dir, 'data');
  const opened = openHubStore(dataDir);
  try {
    const { store } = opened;
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.add({ id: 'staff', name: 'Staff' });
    store.groups.addDoor('residents', 'front');
    store.groups.addDoor('staff', 'front');
    const pins: string[] = [];
    store.transaction(() => {
      for (let i = 0; i < PERSONAL_CODES; i++) {
        const id = `r${i}`;
        store.people.add({ id, name: id, kind: 'resident' });
        store.groups.addMember('residents', id);
        const pin = String(10_000_000 + i * 7919);
        store.credentials.addPin(id, pin);
        pins.push(pin);
      }
    });
    const secret = CodeSecret.loadOrCreate(dataDir).bytes();
    const config = resolveOfflineConfig({});
    const codes = new OfflineCodes({ store, secret, timeZone: ZONE, config });
    const now = Date.now();
    const today = new Intl.DateTimeFormat('sv-SE', { timeZone: ZONE }).format(now);
    const daily = Array.from(
      { length: 100 },
      (_, index) =>
        issueCode(secret, { type: 'daily', date: today, index, scope: 'group:residents' }, ZONE).digits,
    );
    const miss9 = (i: number) => String(100_000_000 + ((i * 104_729) % 899_999_999)).padStart(9, '0');
    const miss12 = (i: number) => String(100_000_000_000 + i * 7_919_017).slice(0, 12);

    const pinLookup = time(SAMPLES, (i) => store.credentials.find('pin', pins[i % pins.length]!));
    const guess9 = time(SAMPLES, (i) => {
      store.credentials.find('pin', miss9(i));
      codes.verify('front', miss9(i), now);
    });
    const guess12 = time(SAMPLES, (i) => {
      store.credentials.find('pin', miss12(i));
      codes.verify('front', miss12(i), now);
    });
    const dailyHit = time(SAMPLES, (i) => {
      store.credentials.find('pin', daily[i % daily.length]!);
      codes.verify('front', daily[i % daily.length]!, now);
    });

    const lockout = new CappedKeypadLockout(
      { maxFailures: 1_000_000, windowMs: 1000 },
      { keypads: store.keypadCap, dailyCap: 100_000_000, emitEvent: () => {} },
    );
    const decisions = new DecisionService({
      store,
      bus: new EventBus(),
      lockout,
      timeZone: ZONE,
      logger: silentLogger(),
      offlineCodes: codes,
    });
    const decisionPin = time(2000, (i) =>
      decisions.decide({ doorId: 'front', kind: 'keypad', value: pins[i % pins.length]!, readerId: 'kp' }),
    );
    const decisionGuess = time(2000, (i) =>
      decisions.decide({ doorId: 'front', kind: 'keypad', value: miss9(i), readerId: 'kp' }),
    );
    const decisionDailyCode = time(2000, (i) =>
      decisions.decide({ doorId: 'front', kind: 'keypad', value: daily[i % daily.length]!, readerId: 'kp' }),
    );
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const baseline = { name: 'plain PIN lookup p99', value: pinLookup.p99 };
    const goal = { op: '<=' as const, value: 5, source: 'docs/benchmarks.md' };
    const figures: Figure[] = [
      {
        name: 'keypad: wrong 9-digit entry p99',
        value: guess9.p99,
        unit: 'ms',
        baseline,
        goal,
        note: `PIN lookup + derived-code search, ${PERSONAL_CODES.toLocaleString('en-US')} personal codes`,
      },
      { name: 'keypad: wrong 12-digit entry p99', value: guess12.p99, unit: 'ms', baseline, goal },
      { name: 'keypad: valid daily code p99', value: dailyHit.p99, unit: 'ms', baseline, goal },
      { name: 'full keypad decision (wrong code) p99', value: decisionGuess.p99, unit: 'ms', baseline, goal },
    ];
    return {
      figures,
      personalCodes: PERSONAL_CODES,
      scopesAtDoor: codes.scopesFor('front').length,
      baselinePinLookupMs: pinLookup,
      keypadGuess9DigitsMs: guess9,
      keypadGuess12DigitsMs: guess12,
      keypadDailyCodeMs: dailyHit,
      decisionKeypadPinMs: decisionPin,
      decisionKeypadGuessMs: decisionGuess,
      decisionKeypadDailyCodeMs: decisionDailyCode,
      p99GuessOverBaseline: ratio(Math.max(guess9.p99, guess12.p99), pinLookup.p99),
      goalP99Ms: 5,
      meetsGoal: Math.max(guess9.p99, guess12.p99, dailyHit.p99) <= 5,
    };
  } finally {
    opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchOffline().then(
    (report) => process.stdout.write(`${JSON.stringify(report, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
