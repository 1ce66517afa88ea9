// The `backups` part: builds the scheduler from the config and the open store, and the admin route
// `gatehouse backup now` calls over the control socket (POST /api/v1/backups/run).

import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import type { Database } from '../store/db.js';
import type { Store } from '../store/store.js';
import { type BackupsConfig, hubConfigFile, resolveBackupsConfig } from './config.js';
import { BackupScheduler } from './scheduler.js';

export { BackupsConfigSchema, hubConfigFile, resolveBackupsConfig } from './config.js';
export * from './scheduler.js';

export function createBackupScheduler(deps: {
  config: BackupsConfig;
  dataDir: string;
  db: Database;
  store: Store;
  now: () => number;
  logger: Logger;
}): BackupScheduler {
  const { store } = deps;
  return new BackupScheduler({
    config: resolveBackupsConfig(deps.config, deps.dataDir),
    dataDir: deps.dataDir,
    db: deps.db,
    events: {
      appendDurable: (e) => store.events.appendDurable(e),
      latest: (type) => store.events.list({ type, limit: 1 })[0] ?? null,
    },
    now: deps.now,
    logger: deps.logger,
    // Found as the hub found it at start: $GATEHOUSE_CONFIG (the systemd unit) or <data>/config.yaml.
    configFile: hubConfigFile(deps.dataDir),
  });
}

/** `POST /api/v1/backups/run` (admin; the CLI over the control socket): the scheduled backup, now. */
export function registerBackupRoutes(
  scheduler: () => BackupScheduler | null,
): (api: FastifyInstance) => Promise<void> {
  return async (api) => {
    api.post('/backups/run', { config: { roles: ['admin'] } }, async (_request, reply) => {
      const backups = scheduler();
      if (!backups) return reply.code(503).send({ error: 'backups are not running', code: 'unavailable' });
      const run = await backups.runNow();
      return { ...run, backups: backups.status() };
    });
  };
}
