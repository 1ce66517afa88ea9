// The guessing figure of docs/offline-codes.md: the chance that someone guessing at one keypad gets
// in within a day, from the code lengths, the codes valid there now, the lockout and the daily cap.
// Pure: the caller counts the codes.
import { KeypadLockout, type KeypadLockoutPolicy } from '../access/lockout.js';
import {
  type CodeFormat,
  codeLengths,
  DAILY_INDEXES,
  MAX_HOURS,
  START_RESIDUES,
  WINDOWED_INDEXES,
} from './codes.js';

const DAY_MS = 86_400_000;

/**
 * Most wrong codes one keypad accepts in 24 h under the lockout policy, for a guesser who types a
 * code every `entryMs` and waits out every lockout (entries during a lockout are not tried).
 */
export function lockoutAttemptsPerDay(policy: Partial<KeypadLockoutPolicy>, entryMs: number): number {
  const lockout = new KeypadLockout({ ...policy, maxKeys: 1 });
  let t = 0;
  let attempts = 0;
  while (t < DAY_MS) {
    const state = lockout.isLocked('k', t);
    if (state.locked) {
      t = state.until ?? DAY_MS;
      continue;
    }
    lockout.recordFailure('k', t);
    attempts++;
    t += entryMs;
  }
  return attempts;
}

/** Windowed (hour-window, one-time, first-use) codes a random payload can be at one moment: 3 types × Σ(672 − j, j < 24) × 2. */
export const WINDOWED_ACCEPTED_PER_SCOPE =
  3 * WINDOWED_INDEXES * (START_RESIDUES * MAX_HOURS - (START_RESIDUES * (START_RESIDUES - 1)) / 2);

export interface GuessRiskInput {
  /** Personal PINs valid at this keypad now, by length in digits. */
  personalByLength: ReadonlyMap<number, number>;
  /** How many scopes cover the door (site + door + its groups): each is one more code per window. */
  scopesAtDoor: number;
  /** Daily-code dates accepted now: 1, or 2 inside the midnight grace. 0 when codes are refused. */
  dailyDates: number;
  /** Hour-window codes are accepted now (false when timed codes are off or time is untrusted). */
  windowedAccepted: boolean;
  /** Hour-window codes the hub remembers as valid now whose window started over 24 h ago. */
  rememberedWindowed: number;
  format: CodeFormat;
  /** Wrong codes per day the lockout allows (lockoutAttemptsPerDay). */
  lockoutAttempts: number;
  dailyCap: number;
}

export interface GuessRisk {
  /** Guesses a day a guesser gets: min(daily cap, lockout-limited attempts). */
  guessesPerDay: number;
  /** Chance that one guess of the best length opens: max over L of (accepted codes of length L) / 10^L. */
  perGuess: number;
  /** The length an optimal guesser types. */
  worstLength: number;
  /** 1 − (1 − perGuess)^guessesPerDay */
  perDay: number;
  /** Accepted codes by length (personal + derived), for the docs' worked example. */
  acceptedByLength: Record<string, number>;
}

export function guessRisk(input: GuessRiskInput): GuessRisk {
  const lengths = codeLengths(input.format);
  const accepted = new Map<number, number>();
  const add = (length: number, count: number) => {
    if (count > 0) accepted.set(length, (accepted.get(length) ?? 0) + count);
  };
  for (const [length, count] of input.personalByLength) add(length, count);
  add(lengths.daily, input.dailyDates * DAILY_INDEXES * input.scopesAtDoor);
  if (input.windowedAccepted) {
    add(lengths.windowed, WINDOWED_ACCEPTED_PER_SCOPE * input.scopesAtDoor + input.rememberedWindowed);
  }
  let perGuess = 0;
  let worstLength = 0;
  for (const [length, count] of [...accepted].sort((a, b) => a[0] - b[0])) {
    const density = Math.min(1, count / 10 ** length);
    if (density > perGuess) {
      perGuess = density;
      worstLength = length;
    }
  }
  const guessesPerDay = Math.min(input.dailyCap, input.lockoutAttempts);
  const perDay = perGuess >= 1 ? 1 : -Math.expm1(guessesPerDay * Math.log1p(-perGuess));
  return {
    guessesPerDay,
    perGuess,
    worstLength,
    perDay,
    acceptedByLength: Object.fromEntries([...accepted].map(([k, v]) => [String(k), v])),
  };
}

/** "1 in 12,345" for staff. */
export function formatOdds(probability: number): string {
  if (probability <= 0) return 'none';
  if (probability >= 1) return 'certain';
  return `1 in ${Math.round(1 / probability).toLocaleString('en-US')}`;
}
