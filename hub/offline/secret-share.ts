// The code secret as the hub shares it with the cloud: the secret, a version that goes up each time
// the secret changes (rotation, or a hub restored without its code.key), and the parameters the
// cloud needs to make codes this hub accepts. The mirror hands it over on its TLS link
// (docs/cloud-protocol.md, "Offline doorcode secret"); nothing here logs the secret.
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { SharedCodeSecret } from '../cloud/port.js';
import type { Store } from '../store/store.js';
import type { OfflineConfig } from './config.js';
import { CodeSecret } from './secret.js';

/** kv key holding {version, fingerprint} of the secret in use. */
export const CODE_SECRET_VERSION_KEY = 'offline.code_secret';

/** How often current() looks at code.key for a rotation made by another process. */
const CHECK_INTERVAL_MS = 1000;

export interface CodeSecretVersion {
  version: number;
  fingerprint: string;
}

/**
 * The version of `secret`: the recorded one when its fingerprint matches, else the next one, recorded
 * now (with an `admin.code.secret_rotated` event when it replaces an earlier secret). Idempotent, so
 * the CLI that rotates and the hub that notices may both call it.
 */
export function recordSecretVersion(store: Store, secret: CodeSecret, actor = 'hub'): CodeSecretVersion {
  const fingerprint = secret.fingerprint();
  return store.transaction(() => {
    const recorded = parseVersion(store.kv.get(CODE_SECRET_VERSION_KEY));
    if (recorded?.fingerprint === fingerprint) return recorded;
    const next = { version: (recorded?.version ?? 0) + 1, fingerprint };
    store.kv.set(CODE_SECRET_VERSION_KEY, JSON.stringify(next));
    if (recorded !== null) {
      store.events.insertInTransaction({
        type: 'admin.code.secret_rotated',
        doorId: null,
        personId: null,
        credentialId: null,
        data: { version: next.version, fingerprint, previousFingerprint: recorded.fingerprint, actor },
      });
    }
    return next;
  });
}

function parseVersion(text: string | null): CodeSecretVersion | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as Partial<CodeSecretVersion>;
    if (Number.isSafeInteger(value.version) && typeof value.fingerprint === 'string') {
      return { version: value.version as number, fingerprint: value.fingerprint };
    }
  } catch {
    // a damaged record: start a new version
  }
  return null;
}

export interface CodeSecretShareOptions {
  store: Store;
  dataDir: string;
  secret: CodeSecret;
  timeZone: string;
  config: OfflineConfig;
  /** Called with the new secret when code.key changed under the running hub. */
  onRotated?: (secret: CodeSecret) => void;
  logger?: Logger;
  now?: () => number;
}

/** The secret in use, its version, and a cheap check for a rotation made by the CLI. */
export class CodeSecretShare {
  readonly #o: CodeSecretShareOptions;
  #secret: CodeSecret;
  #version: CodeSecretVersion;
  #fileStamp: string;
  #checkedAt = 0;
  #reportedProblem = false;

  constructor(options: CodeSecretShareOptions) {
    this.#o = options;
    this.#secret = options.secret;
    this.#version = recordSecretVersion(options.store, options.secret);
    this.#fileStamp = this.#stamp();
  }

  get secret(): CodeSecret {
    return this.#secret;
  }

  get version(): number {
    return this.#version.version;
  }

  get fingerprint(): string {
    return this.#version.fingerprint;
  }

  /** What the mirror sends (looks for a rotation at most once a second). Never log secretHex. */
  current(): SharedCodeSecret {
    const now = (this.#o.now ?? Date.now)();
    if (now - this.#checkedAt >= CHECK_INTERVAL_MS) {
      this.#checkedAt = now;
      this.check();
    }
    const config = this.#o.config;
    return {
      version: this.#version.version,
      fingerprint: this.#version.fingerprint,
      secretHex: this.#secret.exportHex(),
      timeZone: this.#o.timeZone,
      dailyMacDigits: config.dailyMacDigits,
      windowedMacDigits: config.windowedMacDigits,
      graceMinutes: config.graceMinutes,
    };
  }

  /** Re-reads code.key when the file changed; true when the secret in use changed. */
  check(): boolean {
    const stamp = this.#stamp();
    if (stamp === this.#fileStamp) return false;
    let secret: CodeSecret | null;
    try {
      secret = CodeSecret.read(this.#o.dataDir, this.#o.logger);
    } catch (err) {
      this.#problem(`cannot read the new code secret: ${(err as Error).message}; keeping the one in use`);
      return false;
    }
    if (secret === null) {
      this.#problem('code.key is missing; keeping the secret in use (restore code.key from the backup)');
      return false;
    }
    this.#fileStamp = stamp;
    this.#reportedProblem = false;
    if (secret.fingerprint() === this.#secret.fingerprint()) return false;
    this.#secret = secret;
    this.#version = recordSecretVersion(this.#o.store, secret);
    this.#o.logger?.info(
      { version: this.#version.version, fingerprint: this.#version.fingerprint },
      'offline code secret rotated: codes made with the old one stop working',
    );
    this.#o.onRotated?.(secret);
    return true;
  }

  #problem(message: string): void {
    if (this.#reportedProblem) return;
    this.#reportedProblem = true;
    this.#o.logger?.error(message);
  }

  #stamp(): string {
    try {
      const stat = statSync(this.#secret.file);
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }
}
