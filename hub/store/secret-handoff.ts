// Device secrets for an external broker. The hub keeps only an HMAC of a device's secret, but mosquitto's
// dynamic-security plugin can only be given a password in plaintext (it hashes it itself). So while the
// hub runs with an external broker (kv `mqtt.handoff` = on), `device add` and `rotate-secret` (in the
// hub or in the CLI's process) also leave the new secret sealed (AES-256-GCM under a key derived from the
// hub key) in kv; the hub hands it to the broker and deletes it at once (docs/external-broker.md, §secrets). It lives in the store because it writes the kv table.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { StoreContext } from './context.js';

const MARKER = 'mqtt.handoff';
const PREFIX = 'mqtt.handoff.secret.';
const PURPOSE = 'mqtt-broker-handoff';

interface KvAccess {
  readonly keys: { subkey(purpose: string): Buffer };
  stmt: StoreContext['stmt'];
}

/** Called inside the write transaction that makes or rotates a device secret. */
export function handOffSecret(ctx: KvAccess, deviceId: string, secret: string): void {
  const on = ctx.stmt<string>('SELECT value FROM kv WHERE key = ?').pluck().get(MARKER);
  if (on !== 'on') return;
  ctx
    .stmt('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
    .run(PREFIX + deviceId, seal(ctx.keys.subkey(PURPOSE), deviceId, secret));
}

/** Forgets a secret waiting for the broker (the device was removed). */
export function dropHandedOff(ctx: KvAccess, deviceId: string): void {
  ctx.stmt('DELETE FROM kv WHERE key = ?').run(PREFIX + deviceId);
}

/** What the hub reads and clears; `Store.kv`-shaped. */
export interface HandoffKv {
  get(key: string): string | null;
  set(key: string, value: string): void;
  delete(key: string): void;
}

export class SecretHandoff {
  readonly #kv: HandoffKv;
  readonly #key: Buffer;

  constructor(kv: HandoffKv, keys: { subkey(purpose: string): Buffer }) {
    this.#kv = kv;
    this.#key = keys.subkey(PURPOSE);
  }

  /** From now on, new secrets are kept sealed for the broker until it has them. */
  enable(on: boolean): void {
    if (on) this.#kv.set(MARKER, 'on');
    else this.#kv.delete(MARKER);
  }

  /** Back to the embedded broker: no secret is kept any more, and any left over are deleted. */
  disable(deviceIds: () => string[]): void {
    if (this.#kv.get(MARKER) === null) return;
    this.#kv.delete(MARKER);
    for (const id of deviceIds()) this.done(id);
  }

  /** The secret waiting for device `deviceId`, or null (none, or not readable with this hub's key). */
  peek(deviceId: string): string | null {
    const sealed = this.#kv.get(PREFIX + deviceId);
    if (sealed === null) return null;
    return unseal(this.#key, deviceId, sealed);
  }

  /** The broker has it: the sealed copy is deleted. */
  done(deviceId: string): void {
    this.#kv.delete(PREFIX + deviceId);
  }
}

function seal(key: Buffer, deviceId: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(deviceId));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
}

function unseal(key: Buffer, deviceId: string, sealed: string): string | null {
  try {
    const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
    if (!iv || !tag || !body || iv.length !== 12 || tag.length !== 16) return null;
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(deviceId));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
