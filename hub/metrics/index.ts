// Observability of a running hub (docs/monitoring.md): the metrics behind /metrics, the health report behind
// /api/v1/health. One part of the composition (hub/app.ts), started before decisions so every one is counted.
import path from 'node:path';
import type { EventBus } from '../bus.js';
import { DB_FILE_NAME } from '../store/db.js';
import type { Store } from '../store/store.js';
import { HubMetrics } from './collector.js';
import type { MetricsConfig } from './config.js';
import { HubHealth, StoreProbe } from './health.js';
import type { MetricsEndpoint } from './route.js';
import { MetricsTokenCheck } from './token.js';

export type { HealthReport } from './health.js';
export type { MetricsEndpoint } from './route.js';
export { registerMetricsRoute } from './route.js';

export interface ObservabilityOptions {
  bus: EventBus;
  store: Store;
  dataDir: string;
  config: MetricsConfig;
  status: () => Record<string, unknown>;
  isDoor: (doorId: string) => boolean;
}

export class Observability {
  readonly health: HubHealth;
  readonly metrics: HubMetrics;
  readonly endpoint: MetricsEndpoint;

  constructor(o: ObservabilityOptions) {
    const store = new StoreProbe({
      dataDir: o.dataDir,
      dbFile: path.join(o.dataDir, DB_FILE_NAME),
      read: () => o.store.users.count(),
      eventsHeld: () => o.store.events.diskFull(),
    });
    this.health = new HubHealth({ status: o.status, store });
    this.metrics = new HubMetrics({
      bus: o.bus,
      status: o.status,
      health: () => this.health.report(),
      isDoor: o.isDoor,
      processMetrics: o.config.processMetrics,
    });
    this.endpoint = {
      tokens: new MetricsTokenCheck(o.dataDir),
      render: () => this.metrics.render(),
      contentType: this.metrics.contentType,
      requestsPerMinute: o.config.requestsPerMinute,
    };
  }

  start(): void {
    this.metrics.start();
  }

  stop(): void {
    this.metrics.stop();
  }
}
