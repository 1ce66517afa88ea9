// MQTT device accounts: a generated secret (stored as an HMAC) and the doors each device serves.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Audit, StoreContext } from './context.js';
import { checkId, checkOneOf, invalid, notFound, StoreError } from './errors.js';
import { dropHandedOff, handOffSecret } from './secret-handoff.js';

export type DeviceRole = 'door' | 'integration';
export const DEVICE_ROLES: readonly DeviceRole[] = ['door', 'integration'];

/**
 * What an integration account may do beyond reading door state and asking for door modes and unlocks
 * (least privilege, docs/mqtt.md): `people.read` looks people up (never PINs, cards or secrets),
 * `codes.issue` issues doorcodes for a person. Door devices have none.
 */
export const INTEGRATION_GRANTS = ['people.read', 'codes.issue'] as const;
export type IntegrationGrant = (typeof INTEGRATION_GRANTS)[number];

export interface Device {
  id: string;
  role: DeviceRole;
  doors: string[];
  grants: IntegrationGrant[];
  createdAt: number;
}

export interface VerifiedDevice {
  id: string;
  role: DeviceRole;
  doors: string[];
  grants: IntegrationGrant[];
}

interface DeviceRow {
  id: string;
  secret_hash: string;
  role: DeviceRole;
  grants: string;
  created_at: number;
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export class DevicesRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  /** Creates a device; the secret is returned once, in plaintext, and stored only as an HMAC. */
  add(
    id: string,
    options: { role: DeviceRole; doors?: string[]; grants?: IntegrationGrant[] },
  ): { device: Device; secret: string } {
    const checkedId = checkId(id, 'device');
    if (options === null || typeof options !== 'object') throw invalid('device options must be an object');
    const role = checkOneOf(options.role, DEVICE_ROLES, 'device role');
    const doors = this.#checkDoorList(options.doors ?? []);
    const grants = this.#checkGrants(options.grants ?? [], role);
    const secret = newSecret();
    const device = this.#ctx.write(() => {
      if (this.#row(checkedId)) throw new StoreError('conflict', `device '${checkedId}' already exists`);
      this.#ctx
        .stmt('INSERT INTO devices (id, secret_hash, role, grants, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(checkedId, this.#ctx.keys.hmac('device', secret), role, JSON.stringify(grants), this.#ctx.now());
      this.#writeDoors(checkedId, doors);
      handOffSecret(this.#ctx, checkedId, secret); // only while the hub runs with an external broker
      this.#audit(
        'admin.device.added',
        {},
        { deviceId: checkedId, role, doors, ...(grants.length > 0 ? { grants } : {}) },
      );
      return this.#mustGet(checkedId);
    });
    return { device, secret };
  }

  /** Constant-time check of a device's secret. Null for an unknown device or a wrong secret. */
  verify(id: string, secret: string): VerifiedDevice | null {
    if (typeof id !== 'string' || typeof secret !== 'string' || secret.length > 512) return null;
    const row = this.#row(id);
    // Hash even for unknown ids so the answer takes the same time either way.
    const presented = Buffer.from(this.#ctx.keys.hmac('device', secret), 'hex');
    const stored = Buffer.from(row?.secret_hash ?? '0'.repeat(64), 'hex');
    const match = stored.length === presented.length && timingSafeEqual(stored, presented);
    if (!row || !match) return null;
    return { id: row.id, role: row.role, doors: this.#doors(row.id), grants: grantsOf(row) };
  }

  /** A new secret (the old one stops working at once). */
  rotateSecret(id: string): string {
    const secret = newSecret();
    this.#ctx.write(() => {
      this.#mustGet(id);
      this.#ctx
        .stmt('UPDATE devices SET secret_hash = ? WHERE id = ?')
        .run(this.#ctx.keys.hmac('device', secret), id);
      handOffSecret(this.#ctx, id, secret); // only while the hub runs with an external broker
      this.#audit('admin.device.secret_rotated', {}, { deviceId: id });
    });
    return secret;
  }

  get(id: string): Device | null {
    const row = this.#row(id);
    return row ? this.#device(row) : null;
  }

  list(): Device[] {
    return this.#ctx
      .stmt<DeviceRow>('SELECT id, secret_hash, role, grants, created_at FROM devices ORDER BY id')
      .all()
      .map((row) => this.#device(row));
  }

  #device(row: DeviceRow): Device {
    return {
      id: row.id,
      role: row.role,
      doors: this.#doors(row.id),
      grants: grantsOf(row),
      createdAt: row.created_at,
    };
  }

  #checkGrants(grants: unknown, role: DeviceRole): IntegrationGrant[] {
    if (!Array.isArray(grants)) throw invalid('grants must be an array');
    const checked = [...new Set(grants.map((g) => checkOneOf(g, INTEGRATION_GRANTS, 'grant')))];
    if (checked.length > 0 && role !== 'integration') throw invalid('only integration accounts take grants');
    return checked;
  }

  remove(id: string): void {
    this.#ctx.write(() => {
      this.#mustGet(id);
      this.#ctx.stmt('DELETE FROM devices WHERE id = ?').run(id);
      dropHandedOff(this.#ctx, id);
      this.#audit('admin.device.removed', {}, { deviceId: id });
    });
  }

  setDoors(id: string, doors: string[]): Device {
    const checked = this.#checkDoorList(doors);
    return this.#ctx.write(() => {
      this.#mustGet(id);
      this.#writeDoors(id, checked);
      this.#audit('admin.device.doors_changed', {}, { deviceId: id, doors: checked });
      return this.#mustGet(id);
    });
  }

  #checkDoorList(doors: unknown): string[] {
    if (!Array.isArray(doors)) throw invalid('doors must be an array of door ids');
    return [...new Set(doors.map((doorId) => checkId(doorId, 'door')))];
  }

  #writeDoors(id: string, doors: string[]): void {
    this.#ctx.stmt('DELETE FROM device_doors WHERE device_id = ?').run(id);
    for (const doorId of doors) {
      if (!this.#ctx.stmt('SELECT 1 FROM doors WHERE id = ?').get(doorId)) throw notFound('door', doorId);
      this.#ctx.stmt('INSERT INTO device_doors (device_id, door_id) VALUES (?, ?)').run(id, doorId);
    }
  }

  #doors(id: string): string[] {
    return this.#ctx
      .stmt<string>('SELECT door_id FROM device_doors WHERE device_id = ? ORDER BY door_id')
      .pluck()
      .all(id);
  }

  #row(id: string): DeviceRow | undefined {
    return this.#ctx
      .stmt<DeviceRow>('SELECT id, secret_hash, role, grants, created_at FROM devices WHERE id = ?')
      .get(id);
  }

  #mustGet(id: string): Device {
    const device = this.get(id);
    if (!device) throw notFound('device', String(id));
    return device;
  }
}

/** Grants as stored (a JSON array); anything unknown is dropped, so a stray value grants nothing. */
function grantsOf(row: DeviceRow): IntegrationGrant[] {
  try {
    const parsed: unknown = JSON.parse(row.grants);
    return Array.isArray(parsed)
      ? parsed.filter((g): g is IntegrationGrant => (INTEGRATION_GRANTS as readonly unknown[]).includes(g))
      : [];
  } catch {
    return [];
  }
}
