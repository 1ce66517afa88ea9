// Offline doorcodes, keypad daily cap and trusted time. `createOffline` builds the three
// parts from config for hub/app.ts; see docs/offline-codes.md and docs/trusted-time.md.
import type { Logger } from 'pino';
import type { KeypadLockoutPolicy } from '../access/lockout.js';
import type { Store } from '../store/store.js';
import { CappedKeypadLockout } from './cap.js';
import { type ClockPolicy, TrustedClock, timedatectlNtpSynchronized } from './clock.js';
import type { OfflineConfig } from './config.js';
import { OfflineCodes } from './offline-codes.js';
import { CodeSecret } from './secret.js';
import { CodeSecretShare } from './secret-share.js';

export { CappedKeypadLockout, enableKeypad, listDisabledKeypads } from './cap.js';
export { type ClockReading, type ClockStatus, TrustedClock, timedatectlNtpSynchronized } from './clock.js';
export * from './codes.js';
export { type OfflineConfig, OfflineConfigSchema, resolveOfflineConfig } from './config.js';
export { type DoorGuessRisk, type IssueRequest, OfflineCodes, type OfflineVerdict } from './offline-codes.js';
export { formatOdds, guessRisk, lockoutAttemptsPerDay } from './risk.js';
export { CodeSecret } from './secret.js';
export { CodeSecretShare, recordSecretVersion } from './secret-share.js';

/** The per-hub code secret the cloud mirror shares (`codeSecret(dataDir).exportHex()`). Never log it. */
export function codeSecret(dataDir: string): CodeSecret {
  return CodeSecret.loadOrCreate(dataDir);
}

export function clockPolicyFrom(config: OfflineConfig): ClockPolicy {
  return {
    rtc: config.clock.rtc,
    maxBackwardJumpMs: config.clock.maxBackwardJumpSeconds * 1000,
    confirmMaxAgeMs: config.clock.confirmMaxAgeHours * 3_600_000,
    cloudToleranceMs: config.clock.cloudToleranceSeconds * 1000,
  };
}

export interface OfflineParts {
  clock: TrustedClock;
  codes: OfflineCodes;
  /** Pass as DecisionService `lockout`: the keypad lockout plus the durable daily cap. */
  lockout: CappedKeypadLockout;
  /** The secret as loaded at start; after a rotation, `share.secret` is the one in use. */
  secret: CodeSecret;
  /** The secret with its version, for the cloud mirror; follows `gatehouse code secret-rotate`. */
  share: CodeSecretShare;
}

/**
 * Builds the parts. Start order: `clock.start()`, then `codes.start()`; stop in reverse.
 * Wire the decision clock as `now: () => parts.clock.nowMs()` and pass `offlineCodes: parts.codes`.
 */
export function createOffline(options: {
  store: Store;
  dataDir: string;
  timeZone: string;
  config: OfflineConfig;
  keypadPolicy: Partial<KeypadLockoutPolicy>;
  /** Already named by the composition ({ part: 'offline' }); shared by the clock and the codes. */
  logger?: Logger;
  /** Test hook: the system clock. */
  systemNow?: () => number;
}): OfflineParts {
  const { store, config, logger } = options;
  const emitEvent = (e: Parameters<Store['events']['append']>[0]) => store.events.append(e);
  const clock = new TrustedClock({
    kv: store.kv,
    policy: clockPolicyFrom(config),
    emitEvent,
    ...(config.clock.ntpCheck ? { ntpSynchronized: timedatectlNtpSynchronized } : {}),
    ...(options.systemNow ? { systemNow: options.systemNow } : {}),
    ...(logger ? { logger } : {}),
  });
  const secret = CodeSecret.loadOrCreate(options.dataDir, logger);
  const codes = new OfflineCodes({
    store,
    secret: secret.bytes(),
    timeZone: options.timeZone,
    config,
    clock,
    lockoutPolicy: options.keypadPolicy,
    ...(logger ? { logger } : {}),
  });
  const share = new CodeSecretShare({
    store,
    dataDir: options.dataDir,
    secret,
    timeZone: options.timeZone,
    config,
    onRotated: (rotated) => codes.replaceSecret(rotated.bytes()),
    ...(logger ? { logger: logger.child({ part: 'offline-codes' }) } : {}),
  });
  const lockout = new CappedKeypadLockout(options.keypadPolicy, {
    keypads: store.keypadCap,
    dailyCap: config.keypadDailyFailureCap,
    emitEvent,
  });
  return { clock, codes, lockout, secret, share };
}
