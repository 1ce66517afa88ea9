// Offline doorcodes, format v1 (docs/offline-codes.md): digits derived from a per-hub secret the
// cloud shares, so a code issued while the hub is unreachable is verified with no record of its
// issue. Pure functions: the secret and the current time are always inputs.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isValidTimeZone, localTime, zonedToEpoch } from '../access/localtime.js';

export const CODE_FORMAT_VERSION = 1;
export const CODE_TYPES = ['daily', 'hourly', 'once', 'first-use'] as const;
export type CodeType = (typeof CODE_TYPES)[number];
/** The types whose window is an hour range (everything but `daily`). */
export type WindowedCodeType = Exclude<CodeType, 'daily'>;
const WINDOWED_TYPES: readonly WindowedCodeType[] = ['hourly', 'once', 'first-use'];

export const MS_PER_HOUR = 3_600_000;
export const MAX_HOURS = 672;
/** Daily codes carry a 2-digit index: up to 100 codes per date and scope. */
export const DAILY_INDEX_DIGITS = 2;
export const DAILY_INDEXES = 100;
/** Windowed codes carry a 5-digit payload: type, start hour mod 24, hours, index (2 per window). */
export const WINDOWED_PAYLOAD_DIGITS = 5;
export const WINDOWED_INDEXES = 2;
/** Hours before "now" in which a window must have started for a code the hub has never seen. */
export const START_RESIDUES = 24;
const MAX_PAYLOAD = WINDOWED_TYPES.length * START_RESIDUES * MAX_HOURS * WINDOWED_INDEXES - 1;

/** `site` (every door), `door:<id>` or `group:<id>` (the doors of an access group). */
export type CodeScope = string;
const SCOPE_PATTERN = /^(site|(door|group):[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

export interface CodeFormat {
  /** MAC digits of a daily code; its length is 2 + this. */
  dailyMacDigits: number;
  /** MAC digits of an hourly / one-time / first-use code; its length is 5 + this. */
  windowedMacDigits: number;
}

export const DEFAULT_CODE_FORMAT: Readonly<CodeFormat> = { dailyMacDigits: 7, windowedMacDigits: 7 };

export type CodeSpec =
  | { type: 'daily'; date: string; index: number; scope: CodeScope }
  | { type: WindowedCodeType; startHour: number; hours: number; index: number; scope: CodeScope };

/** When a code may be used: [start, end) in epoch ms (before any midnight grace). */
export interface CodeWindow {
  start: number;
  end: number;
}

export interface IssuedCode {
  digits: string;
  serial: string;
  spec: CodeSpec;
  window: CodeWindow;
}

export interface CodeMatch {
  serial: string;
  type: CodeType;
  scope: CodeScope;
  spec: CodeSpec;
  window: CodeWindow;
}

export class CodeFormatError extends Error {
  override name = 'CodeFormatError';
}

export function checkCodeFormat(format: CodeFormat): CodeFormat {
  const { dailyMacDigits: d, windowedMacDigits: w } = format;
  if (!Number.isInteger(d) || d < 5 || d > 10) throw new CodeFormatError('dailyMacDigits must be 5-10');
  if (!Number.isInteger(w) || w < 5 || w > 7) throw new CodeFormatError('windowedMacDigits must be 5-7');
  if (d + DAILY_INDEX_DIGITS === w + WINDOWED_PAYLOAD_DIGITS) {
    throw new CodeFormatError('daily and windowed codes must differ in length');
  }
  return format;
}

export function codeLengths(format: CodeFormat): { daily: number; windowed: number } {
  return {
    daily: DAILY_INDEX_DIGITS + format.dailyMacDigits,
    windowed: WINDOWED_PAYLOAD_DIGITS + format.windowedMacDigits,
  };
}

export function isValidScope(scope: unknown): scope is CodeScope {
  return typeof scope === 'string' && SCOPE_PATTERN.test(scope);
}

/** The text the MAC and the serial are computed over. */
export function codeMessage(spec: CodeSpec): string {
  const window = spec.type === 'daily' ? spec.date : `${spec.startHour}+${spec.hours}`;
  return `gatehouse-code/${CODE_FORMAT_VERSION}|${spec.type}|${window}|${spec.index}|${spec.scope}`;
}

/** Public id of a code, for revocation: "oc-" + 12 base32 characters of SHA-256(message). No secret needed. */
export function codeSerial(spec: CodeSpec): string {
  const hash = createHash('sha256').update(codeMessage(spec)).digest();
  return `oc-${base32(hash).slice(0, 12)}`;
}

const SERIAL_PATTERN = /^oc-[a-z2-7]{12}$/;
export function isValidSerial(serial: unknown): serial is string {
  return typeof serial === 'string' && SERIAL_PATTERN.test(serial);
}

/** First 8 bytes of HMAC-SHA256(secret, message) as an unsigned big-endian integer, mod 10^digits. */
export function codeMac(secret: Uint8Array, spec: CodeSpec, digits: number): string {
  const mac = createHmac('sha256', secret).update(codeMessage(spec)).digest();
  return (mac.readBigUInt64BE(0) % 10n ** BigInt(digits)).toString().padStart(digits, '0');
}

// zonedToEpoch builds an Intl formatter per call; a keypad entry needs the same few midnights again and again.
const midnights = new Map<string, number>();

/** Epoch ms of local midnight starting `date` ("YYYY-MM-DD") in `timeZone`. */
export function localMidnight(date: string, timeZone: string): number {
  const key = `${timeZone}|${date}`;
  const cached = midnights.get(key);
  if (cached !== undefined) return cached;
  const m = DATE_PATTERN.exec(date);
  if (m === null) throw new CodeFormatError(`date must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
  const value = zonedToEpoch(Number(m[1]), Number(m[2]), Number(m[3]), 0, 0, timeZone);
  if (midnights.size >= 1024) midnights.clear();
  midnights.set(key, value);
  return value;
}

/** The calendar date `days` after `date` (pure date arithmetic). */
export function addDays(date: string, days: number): string {
  const m = DATE_PATTERN.exec(date);
  if (m === null) throw new CodeFormatError(`date must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) + days * 86_400_000;
  return new Date(utc).toISOString().slice(0, 10);
}

export function codeWindow(spec: CodeSpec, timeZone: string): CodeWindow {
  if (spec.type === 'daily') {
    return { start: localMidnight(spec.date, timeZone), end: localMidnight(addDays(spec.date, 1), timeZone) };
  }
  return { start: spec.startHour * MS_PER_HOUR, end: (spec.startHour + spec.hours) * MS_PER_HOUR };
}

/** Throws CodeFormatError naming the first thing wrong with a spec. */
export function checkCodeSpec(spec: CodeSpec): CodeSpec {
  if (spec === null || typeof spec !== 'object') throw new CodeFormatError('code spec must be an object');
  if (!isValidScope(spec.scope)) {
    throw new CodeFormatError('scope must be "site", "door:<id>" or "group:<id>"');
  }
  if (spec.type === 'daily') {
    const m = DATE_PATTERN.exec(spec.date);
    if (m === null || new Date(`${spec.date}T00:00:00Z`).toISOString().slice(0, 10) !== spec.date) {
      throw new CodeFormatError('date must be a real calendar date YYYY-MM-DD');
    }
    if (!Number.isInteger(spec.index) || spec.index < 0 || spec.index >= DAILY_INDEXES) {
      throw new CodeFormatError(`daily code index must be 0-${DAILY_INDEXES - 1}`);
    }
    return spec;
  }
  if (!WINDOWED_TYPES.includes(spec.type))
    throw new CodeFormatError(`type must be one of ${CODE_TYPES.join(', ')}`);
  if (!Number.isSafeInteger(spec.startHour) || spec.startHour < 0) {
    throw new CodeFormatError('startHour must be whole hours since 1970-01-01T00:00Z');
  }
  if (!Number.isInteger(spec.hours) || spec.hours < 1 || spec.hours > MAX_HOURS) {
    throw new CodeFormatError(`hours must be 1-${MAX_HOURS}`);
  }
  if (!Number.isInteger(spec.index) || spec.index < 0 || spec.index >= WINDOWED_INDEXES) {
    throw new CodeFormatError(`index of an hour-window code must be 0-${WINDOWED_INDEXES - 1}`);
  }
  return spec;
}

function windowedPayload(type: WindowedCodeType, startHour: number, hours: number, index: number): number {
  const typeIndex = WINDOWED_TYPES.indexOf(type);
  return (
    ((typeIndex * START_RESIDUES + (startHour % START_RESIDUES)) * MAX_HOURS + (hours - 1)) *
      WINDOWED_INDEXES +
    index
  );
}

/** The digits for a code. Deterministic: the same spec and secret always give the same digits. */
export function issueCode(
  secret: Uint8Array,
  spec: CodeSpec,
  timeZone: string,
  format: CodeFormat = DEFAULT_CODE_FORMAT,
): IssuedCode {
  checkCodeFormat(format);
  checkCodeSpec(spec);
  if (!isValidTimeZone(timeZone)) throw new CodeFormatError(`unknown time zone ${JSON.stringify(timeZone)}`);
  const digits =
    spec.type === 'daily'
      ? String(spec.index).padStart(DAILY_INDEX_DIGITS, '0') + codeMac(secret, spec, format.dailyMacDigits)
      : String(windowedPayload(spec.type, spec.startHour, spec.hours, spec.index)).padStart(
          WINDOWED_PAYLOAD_DIGITS,
          '0',
        ) + codeMac(secret, spec, format.windowedMacDigits);
  return { digits, serial: codeSerial(spec), spec, window: codeWindow(spec, timeZone) };
}

export interface DecodedWindowed {
  type: WindowedCodeType;
  startResidue: number;
  hours: number;
  index: number;
  mac: string;
}

/** Reads the payload of a windowed code; null when the digits cannot be one. */
export function decodeWindowed(
  digits: string,
  format: CodeFormat = DEFAULT_CODE_FORMAT,
): DecodedWindowed | null {
  if (digits.length !== codeLengths(format).windowed || !/^[0-9]+$/.test(digits)) return null;
  let payload = Number(digits.slice(0, WINDOWED_PAYLOAD_DIGITS));
  if (payload > MAX_PAYLOAD) return null;
  const index = payload % WINDOWED_INDEXES;
  payload = Math.floor(payload / WINDOWED_INDEXES);
  const hours = (payload % MAX_HOURS) + 1;
  payload = Math.floor(payload / MAX_HOURS);
  const startResidue = payload % START_RESIDUES;
  const type = WINDOWED_TYPES[Math.floor(payload / START_RESIDUES)]!;
  return { type, startResidue, hours, index, mac: digits.slice(WINDOWED_PAYLOAD_DIGITS) };
}

export interface VerifyOptions {
  /** Epoch ms to judge the window by (the trusted clock). */
  now: number;
  timeZone: string;
  /** Daily codes work this long before their midnight and after the next one. */
  graceMs: number;
  /** Scopes that cover the door at hand ("site", "door:<id>", "group:<id>" of its groups). */
  scopes: readonly CodeScope[];
  format?: CodeFormat;
}

function sameDigits(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** The local dates whose daily codes are valid at `now` (today, and a neighbour inside the grace). */
export function candidateDates(now: number, timeZone: string, graceMs: number): string[] {
  const today = localTime(now, timeZone).date;
  const dates = [today];
  if (now < localMidnight(today, timeZone) + graceMs) dates.push(addDays(today, -1));
  const tomorrow = addDays(today, 1);
  if (now >= localMidnight(tomorrow, timeZone) - graceMs) dates.push(tomorrow);
  return dates;
}

/**
 * The code these digits are, if they were issued under `secret` for one of `scopes` and are valid
 * at `now`; null otherwise. Hour-window codes are only found here when their window started in the
 * last 24 hours (the hub remembers a code once it was used; see OfflineCodes). Never throws on
 * bad digits.
 */
export function verifyCode(secret: Uint8Array, digits: string, options: VerifyOptions): CodeMatch | null {
  const format = options.format ?? DEFAULT_CODE_FORMAT;
  const { now, timeZone, graceMs, scopes } = options;
  if (typeof digits !== 'string' || !/^[0-9]{1,16}$/.test(digits)) return null;
  if (!Number.isFinite(now) || !isValidTimeZone(timeZone)) return null;
  const lengths = codeLengths(format);
  if (digits.length === lengths.daily) {
    const index = Number(digits.slice(0, DAILY_INDEX_DIGITS));
    const mac = digits.slice(DAILY_INDEX_DIGITS);
    for (const date of candidateDates(now, timeZone, graceMs)) {
      for (const scope of scopes) {
        const spec: CodeSpec = { type: 'daily', date, index, scope };
        if (sameDigits(codeMac(secret, spec, format.dailyMacDigits), mac)) return toMatch(spec, timeZone);
      }
    }
    return null;
  }
  const decoded = decodeWindowed(digits, format);
  if (decoded === null) return null;
  const nowHour = Math.floor(now / MS_PER_HOUR);
  const startHour =
    nowHour - ((((nowHour - decoded.startResidue) % START_RESIDUES) + START_RESIDUES) % START_RESIDUES);
  return verifyWindowedAt(secret, decoded, startHour, scopes, now, format.windowedMacDigits, timeZone);
}

/** Checks a decoded windowed code against an explicit start hour (the hub's record of a used code). */
export function verifyWindowedAt(
  secret: Uint8Array,
  decoded: DecodedWindowed,
  startHour: number,
  scopes: readonly CodeScope[],
  now: number,
  macDigits: number,
  timeZone: string,
): CodeMatch | null {
  if (startHour % START_RESIDUES !== decoded.startResidue) return null;
  if (now < startHour * MS_PER_HOUR || now >= (startHour + decoded.hours) * MS_PER_HOUR) return null;
  for (const scope of scopes) {
    const spec: CodeSpec = {
      type: decoded.type,
      startHour,
      hours: decoded.hours,
      index: decoded.index,
      scope,
    };
    if (sameDigits(codeMac(secret, spec, macDigits), decoded.mac)) return toMatch(spec, timeZone);
  }
  return null;
}

function toMatch(spec: CodeSpec, timeZone: string): CodeMatch {
  return {
    serial: codeSerial(spec),
    type: spec.type,
    scope: spec.scope,
    spec,
    window: codeWindow(spec, timeZone),
  };
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}
