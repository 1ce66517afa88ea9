// Process concerns only: parse the command line, load config, create the logger, handle signals,
// start and stop the hub in order. Everything else is built in app.ts.

import { runCli } from './cli/program.js';
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './logger.js';
import { SystemdLink } from './systemd/index.js';

/** After a signal the process is gone within this long, whatever a part does. */
const FORCED_EXIT_MS = 10_000;
/** The parts get this much of it to stop in reverse; the rest is for the last log lines. */
const STOP_BUDGET_MS = 8_000;

async function startHub(configFile?: string): Promise<void> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(configFile ? { file: configFile } : {});
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Refusing to start: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(loaded.config.log.level, undefined, { format: loaded.config.log.format });
  logger.info(
    { configFile: loaded.file ?? '(defaults and environment)', dataDir: loaded.config.dataDir },
    'starting',
  );
  // Loaded only for `start`, so CLI commands stay quick.
  const { Hub } = await import('./app.js');
  const hub = new Hub({ config: loaded.config, logger });
  // Type=notify and the watchdog (deploy/systemd/gatehouse.service); does nothing outside systemd.
  const systemd = await SystemdLink.fromEnvironment(logger);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Armed first: nothing below (a log write to a dead stdout included) can keep the process up.
    const force = setTimeout(() => {
      try {
        logger.error(`shutdown took longer than ${FORCED_EXIT_MS / 1000} s; exiting`);
      } finally {
        process.exit(1);
      }
    }, FORCED_EXIT_MS);
    force.unref();
    try {
      logger.info({ signal }, 'stopping');
      systemd.stopping();
    } catch {}
    try {
      await hub.stop({ deadlineMs: STOP_BUDGET_MS });
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error while stopping');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; stopping');
    void shutdown('uncaughtException');
  });
  process.on('unhandledRejection', (err) => {
    // A stray rejection in a library must not take the doors down; log it loudly instead.
    logger.error({ err }, 'unhandled promise rejection');
  });

  try {
    await hub.start();
    if (!stopping) systemd.started(hub);
  } catch (err) {
    // A signal during start: the shutdown above stops what started and exits.
    if (stopping) return;
    logger.fatal({ err }, 'could not start; see docs/install.md, "If it does not start"');
    // The parts already started were stopped in reverse when this one failed; this is a no-op then.
    await hub.stop({ deadlineMs: STOP_BUDGET_MS }).catch(() => undefined);
    logger.flush();
    process.exit(1);
  }
}

const code = await runCli(process.argv.slice(2), undefined, startHub);
if (process.argv[2] !== 'start') process.exit(code);
