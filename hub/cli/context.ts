// What every CLI noun module shares: the output, the parsed global options, an open store for reads,
// and the errors that decide the exit code (docs/cli.md: 2 for a usage mistake, 1 for a refusal).
import type { Command } from 'commander';
import type { CommandDef } from '../commands/command.js';
import { type Config, loadConfig } from '../config/index.js';
import { type OpenedStore, openHubStore } from '../open-store.js';
import type { Store } from '../store/store.js';
import { UsageError } from './errors.js';
import { readPassword } from './password.js';
import { cliCaller, runCommand } from './run-command.js';

export { HubRefusedError, UsageError } from './errors.js';

export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Read a secret (staff password) without echo; from stdin when it is not a TTY. */
  readSecret: (prompt: string) => Promise<string>;
}

export const defaultIO: CliIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readSecret: readPassword,
};

export type WithStore = (
  fn: (store: Store, config: Config, json: boolean, opened: OpenedStore) => void | Promise<void>,
) => Promise<void>;

/** Handed to every noun module's `register(program, cli)`. */
export interface CliContext {
  io: CliIO;
  /** The config (after the global --config) and --json. */
  settings(): { config: Config; json: boolean };
  /** Runs fn with an open store and closes it, whatever happens. */
  withStore: WithStore;
  /** JSON when --json, else the human form. */
  print(json: boolean, value: unknown, human: () => void): void;
  /** Is `name` in the command table (hub/commands)? */
  has(name: string): boolean;
  /**
   * Runs a command of the table as `cli:<os user>`: here on the store (`runs: 'store'`) or in the running
   * hub over the control socket (`runs: 'hub'`). Refusals are thrown as CommandError (exit 1).
   */
  run(name: string, input: Record<string, unknown>): Promise<unknown>;
}

export function createContext(program: Command, io: CliIO, table: readonly CommandDef[]): CliContext {
  const settings = () => {
    const opts = program.opts<{ config?: string; json?: boolean }>();
    const { config } = loadConfig(opts.config ? { file: opts.config } : {});
    return { config, json: opts.json === true };
  };
  return {
    io,
    settings,
    async withStore(fn) {
      const { config, json } = settings();
      const opened = openHubStore(config.dataDir);
      try {
        // Every audit event the command writes names the operator (docs/data.md: `data.actor`).
        await fn(opened.store.as(cliCaller().actor), config, json, opened);
      } finally {
        opened.close();
      }
    },
    print(json, value, human) {
      if (json) io.out(JSON.stringify(value, null, 2));
      else human();
    },
    has: (name) => table.some((d) => d.name === name),
    run(name, input) {
      const { config } = settings();
      return runCommand(table, name, input, {
        dataDir: config.dataDir,
        openStore: () => openHubStore(config.dataDir),
        commandOptions: () => ({ timeZone: config.timeZone }),
      });
    },
  };
}

/** Why a secret given as an argument is refused, and how to give it instead. */
export function secretOnArgv(what: string, example: string): UsageError {
  return new UsageError(
    `a ${what} on the command line is visible to every user of this machine (ps, shell history): ` +
      `leave the value out and type it when asked, or pipe it in, e.g. ${example}`,
  );
}

/** Commander collector for repeatable options (`--door a --door b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Commander parser for a whole-number option; anything else is a usage mistake. */
export function intArg(name: string) {
  return (value: string) => {
    if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number`);
    return Number(value);
  };
}
