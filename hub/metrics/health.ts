// GET /api/v1/health (docs/monitoring.md, "Health"): one word for the hub and one per part, for the Docker
// HEALTHCHECK, the systemd watchdog helper and a person with curl. Public, so it says nothing about people
// and no error text from outside (a cloud error could name hosts): only fixed phrases.
import { accessSync, constants, statSync } from 'node:fs';

export type CheckState = 'ok' | 'degraded' | 'failing';

export interface HealthReport {
  /** failing: a part failed or the store cannot be read or written (HTTP 503). degraded: working, not fully. */
  status: CheckState;
  version: string;
  uptimeS: number;
  checks: {
    store: CheckState;
    doors: CheckState;
    broker: CheckState;
    http: CheckState;
    /** Only when the cloud link is enabled. */
    cloud?: CheckState;
    /** Only when Node-RED is enabled (docs/installer-flows.md). */
    nodeRed?: CheckState;
  };
  /** What is not ok, in fixed words (absent when all is well). */
  problems?: string[];
}

const RANK: Record<CheckState, number> = { ok: 0, degraded: 1, failing: 2 };

/** How long one report is reused: many callers (any address may ask) cost one computation a second. */
const REPORT_TTL_MS = 1_000;

export interface StoreProbeOptions {
  dataDir: string;
  /** The database file the hub opened. */
  dbFile: string;
  /** A real read through the hub's own connection; throws when the store cannot be read. */
  read: () => unknown;
  /** True while events are held in memory because the disk is full (docs/outages.md). */
  eventsHeld: () => boolean;
}

/**
 * Can the hub still keep its records? A read through its connection, the database file still being the one
 * it opened (not removed or replaced underneath it), and the data directory writable (an SD card that
 * turned read-only is the classic way a Pi dies).
 */
export class StoreProbe {
  readonly #o: StoreProbeOptions;
  readonly #identity: string | null;

  constructor(options: StoreProbeOptions) {
    this.#o = options;
    this.#identity = fileIdentity(options.dbFile);
  }

  check(): { state: CheckState; problem?: string } {
    try {
      this.#o.read();
    } catch {
      return { state: 'failing', problem: 'the database cannot be read' };
    }
    const identity = fileIdentity(this.#o.dbFile);
    if (identity === null || identity !== this.#identity) {
      return { state: 'failing', problem: 'the database file was removed or replaced while the hub runs' };
    }
    try {
      accessSync(this.#o.dataDir, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        state: 'failing',
        problem:
          code === 'EROFS'
            ? 'the data directory is on a read-only file system'
            : 'the data directory is not writable',
      };
    }
    if (this.#o.eventsHeld()) return { state: 'degraded', problem: 'disk full: events are held in memory' };
    return { state: 'ok' };
  }
}

function fileIdentity(file: string): string | null {
  try {
    const s = statSync(file);
    return `${s.dev}:${s.ino}`;
  } catch {
    return null;
  }
}

export interface HealthOptions {
  status: () => Record<string, unknown>;
  store: Pick<StoreProbe, 'check'>;
  now?: () => number;
}

export class HubHealth {
  readonly #o: HealthOptions;
  readonly #now: () => number;
  #cached: { at: number; report: HealthReport } | null = null;

  constructor(options: HealthOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  report(): HealthReport {
    const now = this.#now();
    if (this.#cached && now - this.#cached.at < REPORT_TTL_MS) return this.#cached.report;
    const report = assessHealth(this.#o.status(), this.#o.store.check());
    this.#cached = { at: now, report };
    return report;
  }
}

/** The report for one status snapshot (GET /api/v1/status) and one store probe. */
export function assessHealth(
  status: Record<string, unknown>,
  store: { state: CheckState; problem?: string },
): HealthReport {
  const problems: string[] = [];
  const parts = record(status.parts);
  const part = (name: string): CheckState => {
    const state = parts[name];
    if (state === 'running') return 'ok';
    if (state === 'starting') return 'degraded';
    problems.push(`part ${name} is ${typeof state === 'string' ? state : 'missing'}`);
    return 'failing';
  };
  for (const [name, state] of Object.entries(parts)) {
    if (state === 'failed' && !['store', 'doors', 'broker', 'http'].includes(name)) {
      problems.push(`part ${name} failed`);
    }
  }
  const anyFailed = Object.values(parts).includes('failed');

  let storeState = part('store');
  if (storeState === 'ok' && store.state !== 'ok') {
    storeState = store.state;
    if (store.problem) problems.push(`store: ${store.problem}`);
  }
  if (storeState === 'ok' && record(status.disk).low === true) {
    storeState = 'degraded';
    problems.push('store: the disk is nearly full');
  }

  let doors = part('doors');
  const offline = (Array.isArray(status.doors) ? status.doors : []).filter(
    (d) => record(d).online === false,
  ).length;
  if (doors === 'ok' && offline > 0) {
    doors = 'degraded';
    problems.push(`doors: ${offline} offline`);
  }

  const checks: HealthReport['checks'] = {
    store: storeState,
    doors,
    broker: part('broker'),
    http: part('http'),
  };

  const cloud = record(status.cloud);
  if (cloud.enabled === true) {
    checks.cloud = cloud.state === 'connected' ? 'ok' : 'degraded';
    if (checks.cloud !== 'ok') problems.push(`cloud: link is ${String(cloud.state)}`);
  }
  // Node-RED is not on the access path: at worst degraded, never a reason to restart the hub.
  const nodeRed = record(status.nodeRed);
  if (typeof nodeRed.state === 'string' && nodeRed.state !== 'disabled') {
    checks.nodeRed = nodeRed.state === 'running' ? 'ok' : 'degraded';
    if (checks.nodeRed !== 'ok') problems.push(`nodeRed: ${nodeRed.state}`);
  }

  let overall: CheckState = anyFailed ? 'failing' : 'ok';
  for (const state of Object.values(checks)) if (RANK[state] > RANK[overall]) overall = state;
  return {
    status: overall,
    version: typeof status.version === 'string' ? status.version : 'unknown',
    uptimeS: typeof status.uptimeS === 'number' ? status.uptimeS : 0,
    checks,
    ...(problems.length > 0 ? { problems } : {}),
  };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}
