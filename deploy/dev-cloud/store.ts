// The development cloud's own SQLite file: hubs and their tokens, every event each hub sent
// (de-duplicated by hub id + seq), the change log per hub, and the current records for snapshots.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import BetterSqlite3 from 'better-sqlite3';
import type { HubEvent } from '../../hub/domain.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS hubs (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    applied_change INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE TABLE IF NOT EXISTS events (
    hub_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    door_id TEXT,
    person_id TEXT,
    credential_id TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (hub_id, seq)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS changes (
    hub_id TEXT NOT NULL,
    change_no INTEGER NOT NULL,
    kind TEXT NOT NULL,
    op TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    based_on_seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (hub_id, change_no)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS records (
    hub_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    change_no INTEGER NOT NULL,
    PRIMARY KEY (hub_id, kind, id)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS rejections (
    hub_id TEXT NOT NULL,
    change_no INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
  ) STRICT;
  -- The offline doorcode secret each hub handed over (in clear: a development cloud only).
  CREATE TABLE IF NOT EXISTS code_secrets (
    hub_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    secret_hex TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    daily_mac_digits INTEGER NOT NULL,
    windowed_mac_digits INTEGER NOT NULL,
    grace_minutes INTEGER NOT NULL,
    received_at INTEGER NOT NULL
  ) STRICT;
  -- Doorcodes this cloud issued (never the digits); each also went into the change log as offline_code.
  CREATE TABLE IF NOT EXISTS issued_codes (
    hub_id TEXT NOT NULL,
    serial TEXT NOT NULL,
    type TEXT NOT NULL,
    scope TEXT NOT NULL,
    person_id TEXT,
    label TEXT,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    secret_version INTEGER NOT NULL,
    change_no INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    PRIMARY KEY (hub_id, serial)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    hub_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    door_id TEXT NOT NULL,
    ms INTEGER NOT NULL,
    mode TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    ok INTEGER,
    error TEXT,
    result_at INTEGER
  ) STRICT;
`;

/** An event as a hub sent it, and when the cloud received it. */
export interface StoredCloudEvent extends HubEvent {
  receivedAt: number;
}

export interface ChangeRow {
  hub_id: string;
  change_no: number;
  kind: string;
  op: string;
  id: string;
  data: string;
  based_on_seq: number;
  ts: number;
}

export interface StoredCodeSecret {
  version: number;
  secretHex: string;
  fingerprint: string;
  timeZone: string;
  dailyMacDigits: number;
  windowedMacDigits: number;
  graceMinutes: number;
  receivedAt: number;
}

export interface IssuedCodeRow {
  serial: string;
  type: string;
  scope: string;
  personId: string | null;
  label: string | null;
  validFrom: number;
  validUntil: number;
  secretVersion: number;
  changeNo: number;
  issuedAt: number;
}

export interface RecordRow {
  kind: string;
  id: string;
  data: string;
  change_no: number;
}

/** Snapshot order: what others refer to comes first. */
export const SNAPSHOT_ORDER = [
  'unit',
  'schedule',
  'door',
  'holiday',
  'group',
  'person',
  'credential',
  'offline_code',
  'code_revocation',
];

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class DevCloudStore {
  readonly db: Database;
  readonly #statements = new Map<string, Statement>();

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new BetterSqlite3(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  /** Prepared once, reused: the event path runs these per event. */
  #sql(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Registers a hub (or replaces its token) and returns the token, shown once. */
  addHub(id: string, token = randomBytes(24).toString('base64url')): string {
    this.#sql(
      'INSERT INTO hubs (id, token_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash',
    ).run(id, hashToken(token), Date.now());
    return token;
  }

  checkToken(hubId: string, token: string): boolean {
    const row = this.#sql('SELECT token_hash FROM hubs WHERE id = ?').get(hubId) as
      | { token_hash: string }
      | undefined;
    const expected = Buffer.from(row?.token_hash ?? '0'.repeat(64), 'hex');
    const actual = Buffer.from(hashToken(token), 'hex');
    return timingSafeEqual(expected, actual) && row !== undefined;
  }

  hubIds(): string[] {
    return this.#sql('SELECT id FROM hubs ORDER BY id').pluck().all() as string[];
  }

  hasHub(id: string): boolean {
    return this.#sql('SELECT 1 FROM hubs WHERE id = ?').get(id) !== undefined;
  }

  touch(hubId: string): void {
    this.#sql('UPDATE hubs SET last_seen_at = ? WHERE id = ?').run(Date.now(), hubId);
  }

  lastSeenAt(hubId: string): number | null {
    return (
      (this.#sql('SELECT last_seen_at FROM hubs WHERE id = ?').pluck().get(hubId) as number | null) ?? null
    );
  }

  /** Highest stored seq; events are only stored contiguously, so this is also the contiguous end. */
  storedSeq(hubId: string): number {
    return this.#sql('SELECT coalesce(max(seq), 0) FROM events WHERE hub_id = ?')
      .pluck()
      .get(hubId) as number;
  }

  hashAt(hubId: string, seq: number): string | null {
    return (
      (this.#sql('SELECT hash FROM events WHERE hub_id = ? AND seq = ?').pluck().get(hubId, seq) as
        | string
        | undefined) ?? null
    );
  }

  insertEvent(hubId: string, e: Omit<StoredCloudEvent, 'receivedAt'>): void {
    this.#sql(
      'INSERT INTO events (hub_id, seq, ts, type, door_id, person_id, credential_id, data, prev_hash, hash, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      hubId,
      e.seq,
      e.ts,
      e.type,
      e.doorId,
      e.personId,
      e.credentialId,
      JSON.stringify(e.data),
      e.prevHash,
      e.hash,
      Date.now(),
    );
  }

  events(hubId: string, afterSeq = 0, limit = 100, type?: string): StoredCloudEvent[] {
    const rows = (
      type === undefined
        ? this.#sql('SELECT * FROM events WHERE hub_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(
            hubId,
            afterSeq,
            limit,
          )
        : this.#sql(
            'SELECT * FROM events WHERE hub_id = ? AND seq > ? AND type = ? ORDER BY seq LIMIT ?',
          ).all(hubId, afterSeq, type, limit)
    ) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      seq: row['seq'] as number,
      ts: row['ts'] as number,
      type: row['type'] as string,
      doorId: row['door_id'] as string | null,
      personId: row['person_id'] as string | null,
      credentialId: row['credential_id'] as string | null,
      data: JSON.parse(row['data'] as string) as Record<string, unknown>,
      prevHash: row['prev_hash'] as string,
      hash: row['hash'] as string,
      receivedAt: row['received_at'] as number,
    }));
  }

  eventCount(hubId: string): number {
    return this.#sql('SELECT count(*) FROM events WHERE hub_id = ?').pluck().get(hubId) as number;
  }

  latestChange(hubId: string): number {
    return this.#sql('SELECT coalesce(max(change_no), 0) FROM changes WHERE hub_id = ?')
      .pluck()
      .get(hubId) as number;
  }

  /** Appends a change and updates the current records, in one transaction. Returns its number. */
  appendChange(hubId: string, change: { kind: string; op: string; id: string; data: string }): number {
    return this.db.transaction(() => {
      const changeNo = this.latestChange(hubId) + 1;
      this.db
        .prepare(
          'INSERT INTO changes (hub_id, change_no, kind, op, id, data, based_on_seq, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          hubId,
          changeNo,
          change.kind,
          change.op,
          change.id,
          change.data,
          this.storedSeq(hubId),
          Date.now(),
        );
      if (change.op === 'delete') {
        this.db
          .prepare('DELETE FROM records WHERE hub_id = ? AND kind = ? AND id = ?')
          .run(hubId, change.kind, change.id);
      } else {
        this.db
          .prepare(
            'INSERT INTO records (hub_id, kind, id, data, change_no) VALUES (?, ?, ?, ?, ?) ON CONFLICT (hub_id, kind, id) DO UPDATE SET data = excluded.data, change_no = excluded.change_no',
          )
          .run(hubId, change.kind, change.id, change.data, changeNo);
      }
      return changeNo;
    })();
  }

  changesAfter(hubId: string, afterChange: number, limit: number): ChangeRow[] {
    return this.#sql(
      'SELECT * FROM changes WHERE hub_id = ? AND change_no > ? ORDER BY change_no LIMIT ?',
    ).all(hubId, afterChange, limit) as ChangeRow[];
  }

  record(hubId: string, kind: string, id: string): Record<string, unknown> | null {
    const data = this.#sql('SELECT data FROM records WHERE hub_id = ? AND kind = ? AND id = ?')
      .pluck()
      .get(hubId, kind, id) as string | undefined;
    return data === undefined ? null : (JSON.parse(data) as Record<string, unknown>);
  }

  records(hubId: string): RecordRow[] {
    const rows = this.#sql('SELECT kind, id, data, change_no FROM records WHERE hub_id = ?').all(
      hubId,
    ) as RecordRow[];
    return rows.sort(
      (a, b) => SNAPSHOT_ORDER.indexOf(a.kind) - SNAPSHOT_ORDER.indexOf(b.kind) || a.id.localeCompare(b.id),
    );
  }

  setAppliedChange(hubId: string, appliedThrough: number): void {
    this.#sql('UPDATE hubs SET applied_change = max(applied_change, ?) WHERE id = ?').run(
      appliedThrough,
      hubId,
    );
  }

  appliedChange(hubId: string): number {
    return (this.#sql('SELECT applied_change FROM hubs WHERE id = ?').pluck().get(hubId) as number) ?? 0;
  }

  addRejection(hubId: string, changeNo: number, reason: string): void {
    this.#sql('INSERT INTO rejections (hub_id, change_no, reason, at) VALUES (?, ?, ?, ?)').run(
      hubId,
      changeNo,
      reason,
      Date.now(),
    );
  }

  rejections(hubId: string): Array<{ change_no: number; reason: string; at: number }> {
    return this.#sql('SELECT change_no, reason, at FROM rejections WHERE hub_id = ? ORDER BY rowid').all(
      hubId,
    ) as Array<{ change_no: number; reason: string; at: number }>;
  }

  /** Keeps the hub's code secret (a newer version replaces the older one; an older one is refused). */
  saveCodeSecret(hubId: string, secret: Omit<StoredCodeSecret, 'receivedAt'>): boolean {
    return (
      this.#sql(
        `INSERT INTO code_secrets (hub_id, version, secret_hex, fingerprint, time_zone, daily_mac_digits, windowed_mac_digits, grace_minutes, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (hub_id) DO UPDATE SET version = excluded.version, secret_hex = excluded.secret_hex,
           fingerprint = excluded.fingerprint, time_zone = excluded.time_zone,
           daily_mac_digits = excluded.daily_mac_digits, windowed_mac_digits = excluded.windowed_mac_digits,
           grace_minutes = excluded.grace_minutes, received_at = excluded.received_at
         WHERE excluded.version >= code_secrets.version`,
      ).run(
        hubId,
        secret.version,
        secret.secretHex,
        secret.fingerprint,
        secret.timeZone,
        secret.dailyMacDigits,
        secret.windowedMacDigits,
        secret.graceMinutes,
        Date.now(),
      ).changes > 0
    );
  }

  codeSecret(hubId: string): StoredCodeSecret | null {
    const row = this.#sql('SELECT * FROM code_secrets WHERE hub_id = ?').get(hubId) as
      | Record<string, unknown>
      | undefined;
    if (!row) return null;
    return {
      version: row['version'] as number,
      secretHex: row['secret_hex'] as string,
      fingerprint: row['fingerprint'] as string,
      timeZone: row['time_zone'] as string,
      dailyMacDigits: row['daily_mac_digits'] as number,
      windowedMacDigits: row['windowed_mac_digits'] as number,
      graceMinutes: row['grace_minutes'] as number,
      receivedAt: row['received_at'] as number,
    };
  }

  addIssuedCode(hubId: string, code: IssuedCodeRow): void {
    this.#sql(
      `INSERT INTO issued_codes (hub_id, serial, type, scope, person_id, label, valid_from, valid_until, secret_version, change_no, issued_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      hubId,
      code.serial,
      code.type,
      code.scope,
      code.personId,
      code.label,
      code.validFrom,
      code.validUntil,
      code.secretVersion,
      code.changeNo,
      code.issuedAt,
    );
  }

  hasIssuedCode(hubId: string, serial: string): boolean {
    return (
      this.#sql('SELECT 1 FROM issued_codes WHERE hub_id = ? AND serial = ?').get(hubId, serial) !== undefined
    );
  }

  issuedCodes(hubId: string): IssuedCodeRow[] {
    const rows = this.#sql('SELECT * FROM issued_codes WHERE hub_id = ? ORDER BY issued_at DESC, serial').all(
      hubId,
    ) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      serial: row['serial'] as string,
      type: row['type'] as string,
      scope: row['scope'] as string,
      personId: row['person_id'] as string | null,
      label: row['label'] as string | null,
      validFrom: row['valid_from'] as number,
      validUntil: row['valid_until'] as number,
      secretVersion: row['secret_version'] as number,
      changeNo: row['change_no'] as number,
      issuedAt: row['issued_at'] as number,
    }));
  }

  recordCommand(
    hubId: string,
    c: { commandId: string; kind: string; doorId: string; ms: number; mode: string },
  ): void {
    this.#sql(
      'INSERT INTO commands (command_id, hub_id, kind, door_id, ms, mode, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(c.commandId, hubId, c.kind, c.doorId, c.ms, c.mode, Date.now());
  }

  commandResult(commandId: string, ok: boolean, error: string): void {
    this.#sql('UPDATE commands SET ok = ?, error = ?, result_at = ? WHERE command_id = ?').run(
      ok ? 1 : 0,
      error,
      Date.now(),
      commandId,
    );
  }
}
