// The access decision engine: pure functions and an in-memory keypad lockout, no I/O.
export {
  type AccessGrant,
  canonicalCardValue,
  credentialKindFor,
  type DecisionInput,
  decide,
  isKeypadValue,
  type PresentationValueCheck,
  REFUSAL_ORDER,
  validatePresentationValue,
} from './engine.js';
export { isValidTimeZone, type LocalDay, type LocalTime, localTime, previousLocalDay } from './localtime.js';
export {
  DEFAULT_KEYPAD_LOCKOUT_POLICY,
  type FailureResult,
  KeypadLockout,
  type KeypadLockoutPolicy,
  type KeypadLockoutSnapshotEntry,
  keypadLockoutOutcome,
  type LockoutState,
} from './lockout.js';
export {
  isWithinSchedule,
  MAX_INTERVALS_PER_DAY,
  parseHHMM,
  scheduleAllows,
  validateIntervals,
} from './schedule.js';
