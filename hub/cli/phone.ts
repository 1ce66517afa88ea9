// `gatehouse phone …` (a phone simulator), `gatehouse mobile …` (issue, list, revoke mobile keys)
// and `gatehouse person logout-everywhere`. Registered into the main program by the lead.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { mobileKeyView } from '../commands/credentials.js';
import { rawPublicKey, toBase64url } from '../mobile/certificate.js';
import { IssuerKey, issueMobileKey, parsePublicKey } from '../mobile/issuer.js';
import { type HubRequest, httpRequester, Phone, presentOverApi } from '../mobile/phone.js';
import { type OpenedStore, openHubStore } from '../open-store.js';
import type { Store } from '../store/store.js';
import { CLI_COMMANDS } from './command-table.js';
import { callHub } from './hub-client.js';
import { cliCaller, runCommand } from './run-command.js';
import { formatTime, parseTimeArg } from './time.js';

export interface PhoneCommandDeps {
  io: { out: (line: string) => void; err: (line: string) => void };
  /** Resolves the config once the global options are parsed. */
  settings: () => { dataDir: string; timeZone: string; json: boolean };
  /** Defaults to openHubStore. */
  openStore?: (dataDir: string) => OpenedStore;
  /** Runs a command of the table as `cli:<os user>` (default: runCommand on the store of `settings`). */
  run?: (name: string, input: Record<string, unknown>) => Promise<unknown>;
}

const DAY_MS = 86_400_000;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function subcommand(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function registerPhoneCommands(program: Command, deps: PhoneCommandDeps): void {
  const { io } = deps;
  const run =
    deps.run ??
    ((name: string, input: Record<string, unknown>) => {
      const { dataDir } = deps.settings();
      return runCommand(CLI_COMMANDS, name, input, {
        dataDir,
        openStore: () => (deps.openStore ?? openHubStore)(dataDir),
      });
    });
  const withStore = async (
    fn: (store: Store, dataDir: string, timeZone: string, json: boolean) => void | Promise<void>,
  ) => {
    const { dataDir, timeZone, json } = deps.settings();
    const opened = (deps.openStore ?? openHubStore)(dataDir);
    try {
      await fn(opened.store.as(cliCaller().actor), dataDir, timeZone, json);
    } finally {
      opened.close();
    }
  };

  // --- the phone simulator
  const phone = subcommand(program, 'phone', 'a simulated phone holding a mobile key (tests and demos)');
  phone
    .command('init <file>')
    .description('create a phone key pair in <file> (mode 0600) and print its public key')
    .option('--force', 'overwrite an existing file')
    .action((file: string, o: { force?: boolean }) => {
      if (existsSync(file) && !o.force) throw new Error(`${file} exists; use --force to replace it`);
      const p = Phone.generate();
      p.save(file);
      io.out(`phone key created in ${file}`);
      io.out(`public key: ${p.publicKey}`);
    });
  phone
    .command('show <file>')
    .description('show the phone public key and the mobile key it holds')
    .action((file: string) => {
      const p = Phone.load(file);
      io.out(`public key: ${p.publicKey}`);
      io.out(
        p.certificate
          ? `mobile key: ${p.certificate}`
          : 'mobile key: (none yet: gatehouse mobile issue <person> --phone-key <file> …)',
      );
    });
  phone
    .command('install <file> <certificate>')
    .description('install a mobile key (certificate text, or a file holding it) into the phone')
    .action((file: string, certificate: string) => {
      const p = Phone.load(file);
      const text = existsSync(certificate) ? readFileSync(certificate, 'utf8').trim() : certificate.trim();
      p.install(text);
      p.save(file);
      io.out(`mobile key installed in ${file}`);
    });
  phone
    .command('present <file>')
    .description('present the mobile key at a door: challenge, sign, respond (through the running hub)')
    .requiredOption('--door <door>', 'the door to open')
    .option('--url <url>', 'hub API base URL (e.g. http://127.0.0.1:8080); default: the local control socket')
    .action(async (file: string, o: { door: string; url?: string }) => {
      const p = Phone.load(file);
      const { dataDir, json } = deps.settings();
      const request: HubRequest = o.url
        ? httpRequester(o.url)
        : (path, body) => callHub(dataDir, 'POST', path, body);
      const result = await presentOverApi(p, o.door, request);
      if (json) io.out(JSON.stringify(result));
      else
        io.out(
          `${result.granted ? 'GRANTED' : 'DENIED'} (${result.reason})${result.error ? `: ${result.error}` : ''}`,
        );
    });

  // --- mobile keys
  const mobile = subcommand(program, 'mobile', 'mobile keys: issue, list, revoke');
  mobile
    .command('issue <person>')
    .description('issue a mobile key for a person, bound to a phone key')
    .requiredOption(
      '--phone-key <file>',
      'phone file (from `phone init`; the key is installed into it) or a file with the raw public key',
    )
    .option('--door <door>', 'a door the key opens (repeat for several)', collect, [])
    .option('--group <group>', 'an access group whose doors the key opens (repeat for several)', collect, [])
    .option('--days <n>', 'valid for this many days (default 365)')
    .option('--from <date>', 'valid from (YYYY-MM-DD[THH:MM] building time)')
    .option('--until <date>', 'valid until (exclusive), instead of --days')
    .option('--label <text>', 'a label staff will see, e.g. "Anna\'s iPhone"')
    .option('--out <file>', 'also write the certificate to this file')
    .action(
      (
        personId: string,
        o: {
          phoneKey: string;
          door: string[];
          group: string[];
          days?: string;
          from?: string;
          until?: string;
          label?: string;
          out?: string;
        },
      ) =>
        withStore((store, dataDir, timeZone, json) => {
          const text = readFileSync(o.phoneKey, 'utf8');
          let phoneFile: Phone | null = null;
          let publicKey: string;
          if (text.trimStart().startsWith('{')) {
            phoneFile = Phone.load(o.phoneKey);
            publicKey = phoneFile.publicKey;
          } else {
            // Raw base64url or a PEM block; anything else is refused with a clear message.
            publicKey = toBase64url(rawPublicKey(parsePublicKey(text)));
          }
          if (o.days !== undefined && !/^\d{1,4}$/.test(o.days))
            throw new Error('--days must be a whole number');
          const validFrom = o.from ? parseTimeArg(o.from, timeZone) : Date.now();
          const validUntil = o.until
            ? parseTimeArg(o.until, timeZone)
            : o.days !== undefined
              ? validFrom + Number(o.days) * DAY_MS
              : undefined;
          const issued = issueMobileKey(store, IssuerKey.loadOrCreate(dataDir), {
            personId,
            phonePublicKey: publicKey,
            doors: o.door,
            groups: o.group,
            validFrom,
            ...(validUntil !== undefined ? { validUntil } : {}),
            ...(o.label ? { label: o.label } : {}),
          });
          if (phoneFile) {
            phoneFile.install(issued.certificate);
            phoneFile.save(o.phoneKey);
          }
          if (o.out) writeFileSync(o.out, `${issued.certificate}\n`, { mode: 0o600 });
          if (json) {
            io.out(
              JSON.stringify(
                { credentialId: issued.credentialId, certificate: issued.certificate, key: issued.body },
                null,
                2,
              ),
            );
            return;
          }
          io.out(
            `mobile key '${issued.credentialId}' issued for '${personId}' (epoch ${issued.body.keyEpoch})`,
          );
          io.out(
            `valid ${formatTime(issued.body.validFrom, timeZone)} – ${formatTime(issued.body.validUntil, timeZone)}`,
          );
          io.out(
            `doors: ${issued.body.scope.doors.join(', ') || '-'}  groups: ${issued.body.scope.groups.join(', ') || '-'}`,
          );
          if (phoneFile) io.out(`installed in ${o.phoneKey}`);
          else io.out(issued.certificate);
        }),
    );
  mobile
    .command('list')
    .description('list mobile keys')
    .option('--person <id>', 'only this person')
    .action((o: { person?: string }) =>
      withStore((store, _d, timeZone, json) => {
        const all = o.person ? store.credentials.listForPerson(o.person) : store.credentials.list();
        const now = Date.now();
        // A logged-out, revoked or expired key never reads "active" (docs/mobile-keys.md).
        const keys = all.filter((c) => c.kind === 'mobile').map((c) => mobileKeyView(c, now));
        if (json) {
          io.out(JSON.stringify(keys, null, 2));
          return;
        }
        if (keys.length === 0) {
          io.out('(none)');
          return;
        }
        for (const c of keys) {
          io.out(
            `${c.id}  ${c.personId}  ${c.label}  until ${formatTime(c.validUntil, timeZone)}  ${c.revokedAt ? `REVOKED ${formatTime(c.revokedAt, timeZone)}` : c.state.replaceAll('_', ' ')}`,
          );
        }
      }),
    );
  mobile
    .command('revoke <credential>')
    .description('revoke one mobile key: it stops working at every door at once')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(async (id: string, o: { reason?: string }) => {
      await run('mobile.revoke', { credentialId: id, ...(o.reason ? { reason: o.reason } : {}) });
      io.out(`mobile key '${id}' revoked`);
    });
  mobile
    .command('issuer-key')
    .description("print the hub's issuer public key (door controllers and the cloud pin it)")
    .action(() => {
      const { dataDir } = deps.settings();
      io.out(IssuerKey.loadOrCreate(dataDir).publicKeyText());
    });

  // --- door-side sync status (running hub)
  const doorsync = subcommand(program, 'doorsync', 'door-side copies of credentials on LAN door controllers');
  doorsync
    .command('status')
    .description(
      'per door: the version the hub published, the version the door applied, how stale (running hub)',
    )
    .action(async () => {
      const { dataDir, json } = deps.settings();
      const res = await callHub(dataDir, 'GET', '/doorsync');
      if (res.status !== 200) throw new Error(String(res.body.error ?? `HTTP ${res.status}`));
      const doors = (res.body.doors ?? []) as Array<{
        doorId: string;
        version: number;
        appliedVersion: number | null;
        staleMs: number;
        inSync: boolean;
        entries: number;
      }>;
      if (json) {
        io.out(JSON.stringify(doors, null, 2));
        return;
      }
      if (doors.length === 0) {
        io.out('(no MQTT doors)');
        return;
      }
      for (const d of doors) {
        const state = d.inSync
          ? 'in sync'
          : d.appliedVersion === null
            ? 'never acked'
            : `behind ${Math.round(d.staleMs / 1000)} s`;
        io.out(
          `${d.doorId}  version ${d.version}  applied ${d.appliedVersion ?? '-'}  ${d.entries} credentials  ${state}`,
        );
      }
    });

  // --- "log out everywhere"
  const person = subcommand(program, 'person', 'residents, staff and guests');
  person
    .command('logout-everywhere <id>')
    .description(
      'stolen phone: every mobile key of the person stops working at once (issue new ones afterwards)',
    )
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(async (id: string, o: { reason?: string }) => {
      const result = (await run('person.logout_everywhere', {
        id,
        ...(o.reason ? { reason: o.reason } : {}),
      })) as { keyEpoch: number; revoked: string[] };
      io.out(
        `person '${id}': all mobile keys logged out (key epoch is now ${result.keyEpoch}; ` +
          `${result.revoked.length} revoked)`,
      );
    });
}
