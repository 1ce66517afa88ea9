// `gatehouse metrics token`: the bearer token Prometheus sends to /metrics (docs/monitoring.md). Printed once;
// only its hash is kept in the data directory, so a lost token is replaced, never recovered.
import type { Command } from 'commander';
import { createMetricsToken, disableMetricsToken } from '../../metrics/token.js';
import type { CliContext } from '../context.js';

export function registerMetricsCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  const metrics = program
    .command('metrics')
    .description('the Prometheus endpoint /metrics (docs/monitoring.md)');
  metrics
    .command('token')
    .description('make a new /metrics token (the old one stops working) and print it once')
    .option('--disable', 'remove the token: /metrics answers 404 until a new one is made')
    .action((o: { disable?: boolean }) => {
      const { config, json } = cli.settings();
      if (o.disable) {
        const existed = disableMetricsToken(config.dataDir);
        cli.print(json, { disabled: true, existed }, () =>
          io.out(existed ? '/metrics is off: the token was removed' : '/metrics was already off (no token)'),
        );
        return;
      }
      const { token, file } = createMetricsToken(config.dataDir);
      cli.print(json, { token, file }, () => {
        io.out(token);
        io.err(
          `This token is shown only now: put it in Prometheus (bearer_token_file) and nowhere else. ` +
            `The hub keeps only its hash (${file}); it applies from the next request, no restart needed.`,
        );
      });
    });
}
