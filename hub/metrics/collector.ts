// What /metrics shows (docs/monitoring.md lists every metric). Decisions are counted as they happen (bus
// `decided`); everything else is read from one status snapshot taken when a scrape arrives, so the hub does
// no metrics work between scrapes. Labels come from closed sets (doors, readers, reasons, states) only.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import type { Decision, EventBus, Presentation } from '../bus.js';
import { REASONS } from '../domain.js';
import type { HealthReport } from './health.js';

/** Door labels kept at most; a hub has tens of doors. Beyond it decisions count under door="other". */
const MAX_DOOR_LABELS = 500;
const KINDS = new Set(['card', 'keypad', 'mobile']);
const REASON_SET = new Set<string>(REASONS);
const CLOUD_STATES = ['disabled', 'connecting', 'connected', 'waiting', 'stopped'] as const;
const NODE_RED_STATES = ['disabled', 'starting', 'running', 'unresponsive', 'backoff', 'stopped'] as const;
const HEALTH_VALUE = { ok: 0, degraded: 1, failing: 2 } as const;
/**
 * Decision latency buckets (seconds): a card is decided in well under a millisecond on a Pi 4; the upper
 * buckets are there to show a hub in trouble (SD card stalls, a blocked event loop).
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface MetricsSource {
  bus: EventBus;
  /** The hub status (GET /api/v1/status), read once per scrape. */
  status: () => Record<string, unknown>;
  health: () => HealthReport;
  /** Is this a door of the hub? Other ids (unknown doors in refused requests) count as door="unknown". */
  isDoor: (doorId: string) => boolean;
  /** Node.js process metrics (memory, CPU, GC): `metrics.processMetrics`. */
  processMetrics: boolean;
}

type Snapshot = Record<string, unknown>;

export class HubMetrics {
  readonly registry = new Registry();
  readonly #source: MetricsSource;
  #snapshot: Snapshot = {};
  #health: HealthReport | null = null;
  readonly #doorLabels = new Set<string>();
  /** When each presentation arrived (presented → decided is the decision's latency). */
  readonly #arrivals = new WeakMap<Presentation, number>();
  /**
   * A presentation being decided in this synchronous turn. Mobile keys announce their decision with a
   * presentation object of their own, inside the same turn as the `presented` that started it.
   */
  #turnStart: number | null = null;
  #loopDelay: ReturnType<typeof monitorEventLoopDelay> | null = null;
  #lazyStarted = false;
  readonly #decisions: Counter<'door' | 'result' | 'reason' | 'kind'>;
  readonly #latency: Histogram;
  /** Registered only while their part reports a status (Node-RED, backups): no sample rather than a 0. */
  readonly #optional: Array<{ present: (s: Snapshot) => boolean; metrics: Metric[]; registered: boolean }> =
    [];

  constructor(source: MetricsSource) {
    this.#source = source;
    const registers = [this.registry];
    this.#decisions = new Counter({
      name: 'gatehouse_decisions_total',
      help: 'Access decisions, by door, result (granted/denied), reason and credential kind.',
      labelNames: ['door', 'result', 'reason', 'kind'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'gatehouse_decision_latency_seconds',
      help: 'From a presentation reaching the hub to its decision being recorded and announced.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#defineStatusMetrics(registers);
  }

  start(): void {
    const { bus } = this.#source;
    // First, so the clock starts before the decision service's own listener runs.
    bus.on(this, 'presented', (p) => this.#arrived(p), { first: true });
    bus.on(this, 'decided', (p, d) => this.#decided(p, d));
  }

  stop(): void {
    this.#source.bus.removeAll(this);
    this.#loopDelay?.disable();
    this.#loopDelay = null;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for one scrape. */
  async render(): Promise<string> {
    this.#startLazyParts();
    this.#snapshot = this.#source.status();
    this.#health = this.#source.health();
    for (const group of this.#optional) {
      const present = group.present(this.#snapshot);
      if (present && !group.registered) for (const m of group.metrics) this.registry.registerMetric(m);
      if (!present && group.registered)
        for (const m of group.metrics) this.registry.removeSingleMetric(name(m));
      group.registered = present;
    }
    const text = await this.registry.metrics();
    // The event-loop figures cover the time between two scrapes.
    this.#loopDelay?.reset();
    return text;
  }

  /**
   * Started at the first scrape, not at hub start: a hub nobody scrapes runs no event-loop monitor and no
   * GC observer. (prom-client cannot stop its process metrics again; they are per process, and cheap.)
   */
  #startLazyParts(): void {
    if (this.#lazyStarted) return;
    this.#lazyStarted = true;
    this.#loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.#loopDelay.enable();
    if (this.#source.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  #arrived(p: Presentation): void {
    const now = performance.now();
    this.#arrivals.set(p, now);
    this.#turnStart = now;
    queueMicrotask(() => {
      this.#turnStart = null;
    });
  }

  #decided(p: Presentation, d: Decision): void {
    const kind = KINDS.has(p.kind) ? p.kind : 'other';
    this.#decisions.inc({
      door: this.#doorLabel(p.doorId),
      result: d.granted ? 'granted' : 'denied',
      reason: REASON_SET.has(d.reason) ? d.reason : 'other',
      kind,
    });
    // Decisions that did not arrive on the bus (the simulated doors' HTTP route) are counted, not timed.
    const started = this.#arrivals.get(p) ?? this.#turnStart;
    if (started === null || started === undefined) return;
    this.#arrivals.delete(p);
    this.#latency.observe((performance.now() - started) / 1000);
  }

  #doorLabel(doorId: string): string {
    if (this.#doorLabels.has(doorId)) return doorId;
    if (!this.#source.isDoor(doorId)) return 'unknown';
    if (this.#doorLabels.size >= MAX_DOOR_LABELS) return 'other';
    this.#doorLabels.add(doorId);
    return doorId;
  }

  #defineStatusMetrics(registers: Registry[]): void {
    const snap = () => this.#snapshot;
    const gauge = <L extends string>(
      metricName: string,
      help: string,
      labelNames: L[],
      fill: (g: Gauge<L>, s: Snapshot) => void,
      register = true,
    ): Gauge<L> =>
      new Gauge<L>({
        name: metricName,
        help,
        labelNames,
        registers: register ? registers : [],
        collect() {
          this.reset();
          fill(this, snap());
        },
      });

    gauge(
      'gatehouse_info',
      'Always 1; the version label says which hub software runs.',
      ['version'],
      (g, s) => g.set({ version: str(s.version) ?? 'unknown' }, 1),
    );
    gauge('gatehouse_uptime_seconds', 'Seconds since the hub finished starting.', [], (g, s) =>
      g.set(num(s.uptimeS) ?? 0),
    );
    gauge(
      'gatehouse_health_check',
      'GET /api/v1/health per check: 0 ok, 1 degraded, 2 failing; check="overall" is the status.',
      ['check'],
      (g) => {
        const health = this.#health;
        if (!health) return;
        g.set({ check: 'overall' }, HEALTH_VALUE[health.status]);
        for (const [check, state] of Object.entries(health.checks)) g.set({ check }, HEALTH_VALUE[state]);
      },
    );
    gauge(
      'gatehouse_part_up',
      'Each part of the hub (docs/architecture.md, "Start and stop order"): 1 running, 0 otherwise.',
      ['part'],
      (g, s) => {
        for (const [part, state] of Object.entries(obj(s.parts)))
          g.set({ part }, state === 'running' ? 1 : 0);
      },
    );
    gauge(
      'gatehouse_door_online',
      'Each door: 1 when its controller (or wired inputs) is reachable, else 0.',
      ['door'],
      (g, s) => {
        for (const door of doors(s)) g.set({ door: door.id }, door.online ? 1 : 0);
      },
    );
    gauge(
      'gatehouse_door_mode',
      'Each door: 1 for its current mode (normal, lockdown, unlocked), 0 for the others.',
      ['door', 'mode'],
      (g, s) => {
        for (const door of doors(s)) {
          for (const mode of ['normal', 'lockdown', 'unlocked'])
            g.set({ door: door.id, mode }, door.mode === mode ? 1 : 0);
        }
      },
    );
    gauge(
      'gatehouse_reader_ok',
      'Each wired reader or keypad: 1 while it can read (online or unsupervised), 0 when offline or starting.',
      ['door', 'reader'],
      (g, s) => {
        for (const door of doors(s)) {
          for (const reader of door.readers) {
            g.set(
              { door: door.id, reader: reader.id },
              reader.state === 'online' || reader.state === 'unsupervised' ? 1 : 0,
            );
          }
        }
      },
    );
    gauge(
      'gatehouse_mqtt_clients',
      'MQTT connections by state: authenticated (logged-in devices and integrations), connecting (not logged in yet).',
      ['state'],
      (g, s) => {
        g.set({ state: 'authenticated' }, num(s.mqttClients) ?? 0);
        const connecting = num(s.mqttConnecting);
        if (connecting !== undefined) g.set({ state: 'connecting' }, connecting);
      },
    );
    gauge(
      'gatehouse_mqtt_connections_shed',
      'MQTT connections closed before login by a connection budget since the hub started, by reason (embedded broker only).',
      ['reason'],
      (g, s) => {
        for (const [reason, count] of Object.entries(obj(s.mqttShed))) {
          const n = num(count);
          if (n !== undefined) g.set({ reason }, n);
        }
      },
    );
    gauge(
      'gatehouse_mqtt_devices_online',
      'Device accounts (door controllers, integrations) with a live connection.',
      [],
      (g, s) => g.set(num(s.devicesOnline) ?? 0),
    );
    gauge(
      'gatehouse_cloud_link_state',
      'The cloud link: 1 for its current state, 0 for the others (disabled when the cloud is not configured).',
      ['state'],
      (g, s) => {
        const state = str(obj(s.cloud).state) ?? 'stopped';
        for (const name of CLOUD_STATES) g.set({ state: name }, name === state ? 1 : 0);
      },
    );
    gauge(
      'gatehouse_cloud_backlog_events',
      'Events stored on the hub that the cloud has not acknowledged yet; 0 while the cloud is disabled.',
      [],
      (g, s) => g.set(obj(s.cloud).enabled === true ? (num(obj(s.cloud).backlog) ?? 0) : 0),
    );
    gauge(
      'gatehouse_cloud_oldest_unsent_age_seconds',
      'Age of the oldest event the cloud has not acknowledged; 0 when none waits or the cloud is disabled.',
      [],
      (g, s) => {
        const at = obj(s.cloud).enabled === true ? num(obj(s.cloud).oldestUnsentAt) : undefined;
        g.set(at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000));
      },
    );
    gauge('gatehouse_disk_free_bytes', 'Free space on the file system of the data directory.', [], (g, s) =>
      g.set(num(obj(s.disk).freeBytes) ?? 0),
    );
    gauge(
      'gatehouse_event_loop_delay_seconds',
      'Event-loop delay since the previous scrape (p50, p99, max): how late the hub reacts to anything.',
      ['quantile'],
      (g) => {
        const h = this.#loopDelay;
        if (!h || h.count === 0) return;
        g.set({ quantile: '0.5' }, h.percentile(50) / 1e9);
        g.set({ quantile: '0.99' }, h.percentile(99) / 1e9);
        g.set({ quantile: 'max' }, h.max / 1e9);
      },
    );

    // Node-RED (docs/installer-flows.md): only while the hub reports it.
    const nodeRed = (s: Snapshot) => obj(s.nodeRed);
    this.#optional.push({
      present: (s) => str(nodeRed(s).state) !== undefined,
      registered: false,
      metrics: [
        gauge(
          'gatehouse_nodered_state',
          'The supervised Node-RED: 1 for its current state, 0 for the others.',
          ['state'],
          (g, s) => {
            const state = str(nodeRed(s).state);
            for (const name of NODE_RED_STATES) g.set({ state: name }, name === state ? 1 : 0);
          },
          false,
        ),
        gauge(
          'gatehouse_nodered_rss_bytes',
          'Resident memory of the Node-RED process; 0 while it does not run.',
          [],
          (g, s) => g.set(num(nodeRed(s).rssBytes) ?? 0),
          false,
        ),
        gauge(
          'gatehouse_nodered_restarts',
          'Times the hub restarted Node-RED since the hub started.',
          [],
          (g, s) => g.set(num(nodeRed(s).restarts) ?? 0),
          false,
        ),
      ],
    });

    // Scheduled backups (docs/replace-a-hub.md): only while the hub reports them.
    const backups = (s: Snapshot) => obj(s.backups);
    this.#optional.push({
      present: (s) => typeof backups(s).enabled === 'boolean',
      registered: false,
      metrics: [
        gauge(
          'gatehouse_backup_last_success_age_seconds',
          'Seconds since the last backup that succeeded; +Inf when none has yet (an alert on age fires).',
          [],
          (g, s) => {
            const at = num(obj(backups(s).lastSuccess).at);
            g.set(at === undefined ? Number.POSITIVE_INFINITY : Math.max(0, (Date.now() - at) / 1000));
          },
          false,
        ),
        gauge(
          'gatehouse_backup_overdue',
          '1 when no backup succeeded for too long (alarm.backup_overdue), else 0.',
          [],
          (g, s) => g.set(backups(s).overdue === true ? 1 : 0),
          false,
        ),
      ],
    });
  }
}

interface DoorView {
  id: string;
  online: boolean;
  mode: unknown;
  readers: Array<{ id: string; state: unknown }>;
}

/** The status' doors, read defensively. */
function doors(s: Snapshot): DoorView[] {
  if (!Array.isArray(s.doors)) return [];
  return s.doors.flatMap((value) => {
    const d = obj(value);
    const id = str(d.doorId);
    if (id === undefined) return [];
    const readers = (Array.isArray(d.readers) ? d.readers : []).flatMap((r) => {
      const reader = obj(r);
      const readerId = str(reader.id);
      return readerId === undefined ? [] : [{ id: readerId, state: reader.state }];
    });
    return [{ id, online: d.online === true, mode: d.mode, readers }];
  });
}

function name(metric: Metric): string {
  return (metric as unknown as { name: string }).name;
}

function obj(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
