// `gatehouse config`: the effective config, secrets redacted; `config example`: a commented file of every setting.
import type { Command } from 'commander';
import { renderConfigExample } from '../../config/example.js';
import type { CliContext } from '../context.js';

/** Config keys whose values are secrets: `token`, `secret`, `password`… and camelCase `…Token` etc. */
const SECRET_KEY = /(token|secret|password|passphrase|privatekey)$/i;

/** The config with every secret value replaced, for printing (`gatehouse config`). */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [
      key,
      SECRET_KEY.test(key) && typeof v === 'string' && v !== '' ? '[redacted]' : redactSecrets(v),
    ]),
  );
}

export function registerConfigCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  const config = program
    .command('config')
    .description('check the config and print it with defaults filled in (secrets shown as [redacted])')
    .action(() => {
      const { config } = cli.settings();
      io.out(JSON.stringify(redactSecrets(config), null, 2));
    });
  config
    .command('example')
    .description('print a commented config file with every setting at its default (no config is read)')
    .action(() => io.out(renderConfigExample().trimEnd()));
}
