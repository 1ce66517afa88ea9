// `gatehouse credential …`: keycards and PINs. A PIN never comes from argv (docs/cli.md).
import type { Command } from 'commander';
import type { StoredCredential } from '../../store/credentials.js';
import { type CliContext, secretOnArgv, UsageError } from '../context.js';
import { printTable } from '../table.js';
import { formatTime, parseTimeArg } from '../time.js';

export function registerCredentialCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- credentials
  const credential = program.command('credential').description('keycards and PINs');
  credential
    .command('add <person>')
    .description('give a person a card or a PIN')
    .option('--card <hex>', 'card UID or Wiegand payload in hex (e.g. 04:A2:2B:1C or 04A22B1C)')
    .option('--pin', 'a PIN (4-12 digits, 6+ recommended): asked for without echo, or read from stdin')
    .option('--pin-stdin', 'read the PIN from the first line of stdin (for scripts)')
    .option('--from <date>', 'valid from (YYYY-MM-DD[THH:MM] building time, or ISO with offset)')
    .option('--until <date>', 'valid until (exclusive)')
    .argument('[pin-on-argv]', 'refused: a PIN on the command line shows in `ps`')
    .action(
      (
        personId: string,
        pinOnArgv: string | undefined,
        o: { card?: string; pin?: boolean; pinStdin?: boolean; from?: string; until?: string },
      ) =>
        (async () => {
          const { config, json } = cli.settings();
          if (pinOnArgv !== undefined) {
            throw secretOnArgv(
              'PIN',
              `\`npx gatehouse credential add ${personId} --pin\` (asks), or ` +
                `\`printf '%s\\n' "$PIN" | npx gatehouse credential add ${personId} --pin-stdin\``,
            );
          }
          const wantsPin = o.pin === true || o.pinStdin === true;
          if ((o.card === undefined) === !wantsPin)
            throw new UsageError('give exactly one of --card or --pin');
          const window = {
            ...(o.from ? { validFrom: parseTimeArg(o.from, config.timeZone) } : {}),
            ...(o.until ? { validUntil: parseTimeArg(o.until, config.timeZone) } : {}),
          };
          let pin = '';
          if (wantsPin) {
            pin = (await io.readSecret(`PIN for ${personId}: `)).trim();
            if (pin === '') throw new UsageError('no PIN given (empty input)');
          }
          const result =
            o.card !== undefined
              ? await cli.run('credential.add_card', { personId, card: o.card, ...window })
              : await cli.run('credential.add_pin', { personId, pin, ...window });
          const c = (result as { credential: StoredCredential }).credential;
          cli.print(json, c, () => io.out(`credential '${c.id}' added for '${personId}' (${c.label})`));
        })(),
    );
  credential
    .command('list')
    .description('list credentials')
    .option('--person <id>', 'only this person')
    .action((o: { person?: string }) =>
      cli.withStore((store, config, json) => {
        const list = o.person ? store.credentials.listForPerson(o.person) : store.credentials.list();
        cli.print(json, list, () =>
          printTable(
            list.map((c) => ({
              id: c.id,
              person: c.personId,
              label: c.label,
              from: formatTime(c.validFrom, config.timeZone),
              until: formatTime(c.validUntil, config.timeZone),
              revoked: c.revokedAt ? formatTime(c.revokedAt, config.timeZone) : '-',
            })),
            io,
          ),
        );
      }),
    );
  credential
    .command('revoke <id>')
    .description('revoke a credential: it stops working at every door at once')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(async (id: string, o: { reason?: string }) => {
      await cli.run('credential.revoke', { id, ...(o.reason ? { reason: o.reason } : {}) });
      io.out(`credential '${id}' revoked`);
    });
}
