// Errors and input checks shared by the store's repositories. Every boundary of the store
// validates here so callers (CLI, HTTP, cloud mirror) get one clear message per mistake.
import { randomBytes } from 'node:crypto';
import { maskCard } from '../logger.js';
import { printable } from '../text.js';

/** Why a store call was refused; the HTTP layer maps these to 400/404/409 (and 'unavailable' to 503). */
export type StoreErrorCode = 'invalid' | 'not_found' | 'conflict' | 'in_use' | 'unsupported' | 'unavailable';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

export function invalid(message: string): StoreError {
  return new StoreError('invalid', message);
}

export function notFound(noun: string, id: string): StoreError {
  return new StoreError('not_found', `${noun} '${printable(id)}' not found`);
}

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkId(value: unknown, noun: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw invalid(
      `${noun} id must be 1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit`,
    );
  }
  return value;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A short readable id such as `p_k3m9x2a7qd` (50 random bits). */
export function generateId(prefix: string): string {
  const bytes = randomBytes(10);
  let out = '';
  for (const byte of bytes) out += BASE32[byte & 31];
  return `${prefix}_${out}`;
}

export function checkName(value: unknown, noun: string, max = 200): string {
  if (typeof value !== 'string') throw invalid(`${noun} must be a string`);
  const trimmed = value.trim();
  if (trimmed.length === 0) throw invalid(`${noun} must not be empty`);
  if (trimmed.length > max) throw invalid(`${noun} must be at most ${max} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\x00-\x1f\x7f]/.test(trimmed)) throw invalid(`${noun} must not contain control characters`);
  return trimmed;
}

export function checkOneOf<T extends string>(value: unknown, allowed: readonly T[], noun: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${noun} must be one of: ${allowed.join(', ')}`);
  }
  return value as T;
}

export function checkIntRange(value: unknown, min: number, max: number, noun: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${noun} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Epoch milliseconds or null. */
export function checkTime(value: unknown, noun: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${noun} must be a time in epoch milliseconds`);
  }
  return value;
}

const CARD_PATTERN = /^[0-9A-F]{2,64}$/;

/** Canonical card value (uppercase hex, no ':' or spaces) or null when it is not a card value. */
export function canonicalCard(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 200) return null;
  const hex = value.replace(/[:\s]/g, '').toUpperCase();
  return CARD_PATTERN.test(hex) ? hex : null;
}

export function checkCard(value: unknown): string {
  const hex = canonicalCard(value);
  if (hex === null) throw invalid('card value must be 2-64 hex digits (":" and spaces are ignored)');
  return hex;
}

const PIN_PATTERN = /^[0-9]{4,12}$/;

export function isValidPin(value: unknown): value is string {
  return typeof value === 'string' && PIN_PATTERN.test(value);
}

export function checkPin(value: unknown): string {
  if (!isValidPin(value)) throw invalid('PIN must be 4-12 digits');
  return value;
}

/** "card …A1B2": enough for staff to tell cards apart, useless for cloning. */
export function cardLabel(hex: string): string {
  return `card ${maskCard(hex)}`;
}

/** JSON with sorted keys at every level, so the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
    if (typeof value === 'bigint') throw invalid('event data must not contain bigint values');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
  }
  return `{${parts.join(',')}}`;
}

export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
