// `npx gatehouse …`: every command opens the same SQLite store the running hub uses. Changes are
// durable when the command returns, and the running hub picks them up within a second (store watch).

import { Command, CommanderError, Option } from 'commander';
import { registerHardwareCommands } from '../../adapters/cli.js';
import { type Config, ConfigError, loadConfig } from '../config/index.js';
import type { ScheduleDay, ScheduleInterval } from '../domain.js';
import { WEEKDAYS } from '../domain.js';
import { removeSetupTokenFile } from '../http/setup-token.js';
import { type OpenedStore, openHubStore } from '../open-store.js';
import { createBackup, inspectBackup, restoreBackup } from '../store/backup.js';
import { DB_FILE_NAME } from '../store/db.js';
import type { Store } from '../store/store.js';
import { registerCodeCommands } from './codes.js';
import { callHub } from './hub-client.js';
import { type PassphraseOptions, readBackupPassphrase } from './passphrase.js';
import { readPassword } from './password.js';
import { registerPhoneCommands } from './phone.js';
import { printTable } from './table.js';
import { formatTime, parseTimeArg } from './time.js';

export class UsageError extends Error {}

/** The running hub said no (e.g. unlock during lockdown). */
export class HubRefusedError extends Error {
  override name = 'HubRefusedError';
}

export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Read a secret (staff password) without echo; from stdin when it is not a TTY. */
  readSecret: (prompt: string) => Promise<string>;
}

const defaultIO: CliIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readSecret: readPassword,
};

const DAY_RANGE = [...WEEKDAYS.slice(1), WEEKDAYS[0]]; // mon..sun, for "mon-fri"

/** "mon-fri@07:00-19:00", "sat,sun@10:00-14:00", "fri@22:00-06:00" (crosses midnight), "hol@…", "all@…". */
export function parseIntervalArg(text: string): ScheduleInterval[] {
  const m = /^([a-z,-]+)@(\d{2}:\d{2})-(\d{2}:\d{2})$/.exec(text.trim().toLowerCase());
  if (!m)
    throw new UsageError(`"${text}" is not an interval: use DAYS@HH:MM-HH:MM, e.g. mon-fri@07:00-19:00`);
  const [, dayText, from, to] = m as unknown as [string, string, string, string];
  const days = new Set<ScheduleDay>();
  for (const part of dayText.split(',')) {
    if (part === 'all') {
      for (const d of WEEKDAYS) days.add(d);
    } else if (part === 'hol') {
      days.add('hol');
    } else if (part.includes('-')) {
      const [a, b] = part.split('-') as [string, string];
      const i = DAY_RANGE.indexOf(a as never);
      const j = DAY_RANGE.indexOf(b as never);
      if (i < 0 || j < 0 || j < i) throw new UsageError(`"${part}" is not a day range (mon-fri, sat-sun)`);
      for (const d of DAY_RANGE.slice(i, j + 1)) days.add(d);
    } else if ((WEEKDAYS as readonly string[]).includes(part)) {
      days.add(part as ScheduleDay);
    } else {
      throw new UsageError(`"${part}" is not a day: use sun mon tue wed thu fri sat, hol or all`);
    }
  }
  return [...days].map((day) => ({ day, from, to }));
}

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

/** Why a secret given as an argument is refused, and how to give it instead. */
function secretOnArgv(what: string, example: string): UsageError {
  return new UsageError(
    `a ${what} on the command line is visible to every user of this machine (ps, shell history): ` +
      `leave the value out and type it when asked, or pipe it in, e.g. ${example}`,
  );
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function intArg(name: string) {
  return (value: string) => {
    if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number`);
    return Number(value);
  };
}

export function buildProgram(
  io: CliIO = defaultIO,
  startHub?: (configFile?: string) => Promise<void>,
): Command {
  const program = new Command('gatehouse')
    .description('Gatehouse access-control hub')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or <data>/config.yaml)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError('(run with --help for usage)');

  const ctx = () => {
    const opts = program.opts<{ config?: string; json?: boolean }>();
    const { config } = loadConfig(opts.config ? { file: opts.config } : {});
    return { config, json: opts.json === true };
  };
  /** Runs fn with an open store and closes it, whatever happens. */
  const withStore = async (
    fn: (store: Store, config: Config, json: boolean, opened: OpenedStore) => void | Promise<void>,
  ) => {
    const { config, json } = ctx();
    const opened = openHubStore(config.dataDir);
    try {
      await fn(opened.store, config, json, opened);
    } finally {
      opened.close();
    }
  };
  const print = (json: boolean, value: unknown, human: () => void) => {
    if (json) io.out(JSON.stringify(value, null, 2));
    else human();
  };

  program
    .command('start')
    .description('start the hub (broker, web server, doors) in the foreground')
    .action(async () => {
      if (!startHub) throw new UsageError('start is only available from the gatehouse binary');
      await startHub(program.opts<{ config?: string }>().config);
    });

  // --- doors
  const door = program.command('door').description('doors: add, list, remove, mode');
  door
    .command('add <id>')
    .description('add a door')
    .option('--name <name>', 'display name')
    .addOption(
      new Option('--transport <kind>', 'how the door is connected')
        .choices(['mqtt', 'wired', 'sim'])
        .default('mqtt'),
    )
    .option('--unlock-ms <ms>', 'unlock pulse (1000-60000)', intArg('--unlock-ms'))
    .option('--held-open-ms <ms>', 'held-open alarm after (ms)', intArg('--held-open-ms'))
    .option('--fail-safe', 'lock is fail-safe (maglock: unlocks without power); default fail-secure')
    .action(
      (
        id: string,
        o: {
          name?: string;
          transport: 'mqtt' | 'wired' | 'sim';
          unlockMs?: number;
          heldOpenMs?: number;
          failSafe?: boolean;
        },
      ) =>
        withStore((store, config, json) => {
          const d = store.doors.add({
            id,
            name: o.name ?? id,
            transport: o.transport,
            failMode: o.failSafe ? 'safe' : 'secure',
            unlockMs: o.unlockMs ?? config.doors.unlockMs,
            heldOpenMs: o.heldOpenMs ?? config.doors.heldOpenMs,
          });
          print(json, d, () =>
            io.out(`door '${d.id}' added (${d.transport}, unlock ${d.unlockMs} ms, fail-${d.failMode})`),
          );
        }),
    );
  door
    .command('list')
    .description('list doors')
    .action(() =>
      withStore((store, _c, json) => {
        const doors = store.doors.list();
        print(json, doors, () =>
          printTable(
            doors.map((d) => ({
              id: d.id,
              name: d.name,
              transport: d.transport,
              mode: d.mode,
              unlockMs: d.unlockMs,
              fail: d.failMode,
            })),
            io,
          ),
        );
      }),
    );
  door
    .command('remove <id>')
    .description('remove a door')
    .action((id: string) =>
      withStore((store) => {
        store.doors.remove(id);
        io.out(`door '${id}' removed`);
      }),
    );
  door
    .command('mode <id> <mode>')
    .description('set door mode: normal, lockdown (nobody gets in) or unlocked (keep unlocked)')
    .action((id: string, mode: string) =>
      withStore((store) => {
        if (!['normal', 'lockdown', 'unlocked'].includes(mode)) {
          throw new UsageError('mode must be normal, lockdown or unlocked');
        }
        store.doors.setMode(id, mode as 'normal' | 'lockdown' | 'unlocked');
        io.out(`door '${id}' is now ${mode}`);
      }),
    );

  door
    .command('unlock <id>')
    .description('unlock a door now through the running hub (refused in lockdown)')
    .option('--ms <ms>', 'unlock time (1000-60000)', intArg('--ms'))
    .action(async (id: string, o: { ms?: number }) => {
      const { config } = ctx();
      const res = await callHub(
        config.dataDir,
        'POST',
        `/doors/${encodeURIComponent(id)}/unlock`,
        o.ms ? { ms: o.ms } : {},
      );
      if (res.status !== 200) throw new HubRefusedError(String(res.body.error ?? `HTTP ${res.status}`));
      io.out(`door '${id}' unlocked`);
    });

  program
    .command('status')
    .description('show the running hub: listeners, doors and their state')
    .action(async () => {
      const { config, json } = ctx();
      const res = await callHub(config.dataDir, 'GET', '/status');
      print(json, res.body, () => {
        const b = res.body as {
          version?: string;
          uptimeS?: number;
          mqtt?: unknown;
          http?: unknown;
          doors?: Array<Record<string, unknown>>;
        };
        io.out(`hub ${b.version ?? ''} up ${b.uptimeS ?? '?'} s`);
        io.out(`mqtt: ${JSON.stringify(b.mqtt)}  http: ${JSON.stringify(b.http)}`);
        const cloud = (res.body as { cloud?: Record<string, unknown> }).cloud;
        if (cloud) {
          io.out(
            `cloud: ${cloud.state}${cloud.connected ? ` since ${cloud.since}` : ''}, backlog ${cloud.backlog ?? 0} events` +
              (cloud.lastError ? `, last error: ${cloud.lastError}` : ''),
          );
        }
        const doors = b.doors ?? [];
        printTable(doors.some((d) => Array.isArray(d.readers)) ? doors.map(withReaderColumn) : doors, io);
      });
    });

  // --- simulated doors (rehearse a building without hardware)
  const sim = program.command('sim').description('drive a simulated door in the running hub');
  // A simulation tool for test buildings: the value may stay on the command line (docs/cli.md); leave it
  // out to type it without echo or pipe it in, e.g. to try a real PIN on a simulated door.
  const simAction = (name: string, description: string, withValue: boolean) => {
    const cmd = sim.command(withValue ? `${name} <door> [value]` : `${name} <door>`).description(description);
    cmd.action(async (doorId: string, given?: string) => {
      const { config } = ctx();
      let value = given;
      if (withValue && value === undefined) value = (await io.readSecret(`${name} for ${doorId}: `)).trim();
      const res = await callHub(
        config.dataDir,
        'POST',
        `/sim/doors/${encodeURIComponent(doorId)}/${name}`,
        withValue ? { value } : {},
      );
      if (res.status !== 200) throw new HubRefusedError(String(res.body.error ?? `HTTP ${res.status}`));
      const d = res.body.decision as { granted: boolean; reason: string } | undefined;
      io.out(d ? `${d.granted ? 'GRANTED' : 'DENIED'} (${d.reason})` : `ok: ${name}`);
    });
  };
  simAction('card', 'present a card (hex) at the door reader', true);
  simAction('code', 'type a code on the door keypad', true);
  simAction('open', 'open the door (contact)', false);
  simAction('close', 'close the door (contact)', false);
  simAction('rex', 'press the request-to-exit button', false);

  // --- devices
  const device = program
    .command('device')
    .description('MQTT device accounts (door controllers, readers, integrations)');
  device
    .command('add <id>')
    .description('create a device account; prints its secret ONCE')
    .option('--door <door>', 'a door this device serves (repeat for several)', collect, [])
    .option(
      '--integration',
      'an integration account (Node-RED, home automation): reads events, no door access',
    )
    .action((id: string, o: { door: string[]; integration?: boolean }) =>
      withStore((store, _c, json) => {
        if (!o.integration && o.door.length === 0)
          throw new UsageError('give at least one --door <door> (or --integration)');
        const { device: d, secret } = store.devices.add(id, {
          role: o.integration ? 'integration' : 'door',
          doors: o.door,
        });
        print(json, { ...d, secret }, () => {
          io.out(
            `device '${d.id}' created (${d.role}${o.door.length ? `, doors: ${o.door.join(', ')}` : ''})`,
          );
          io.out(`MQTT username: ${d.id}`);
          io.out(`MQTT password: ${secret}`);
          io.out('This secret is shown only once. Store it in the device now.');
        });
      }),
    );
  device
    .command('list')
    .description('list device accounts')
    .action(() =>
      withStore((store, _c, json) => {
        const devices = store.devices.list();
        print(json, devices, () =>
          printTable(
            devices.map((d) => ({ id: d.id, role: d.role, doors: d.doors.join(',') })),
            io,
          ),
        );
      }),
    );
  device
    .command('remove <id>')
    .description('remove a device account (it is disconnected at once)')
    .action((id: string) =>
      withStore((store) => {
        store.devices.remove(id);
        io.out(`device '${id}' removed`);
      }),
    );

  // --- people
  const person = program.command('person').description('residents, staff and guests');
  person
    .command('add <name>')
    .description('add a person')
    .option('--id <id>', 'id (default: generated)')
    .addOption(
      new Option('--kind <kind>', 'kind of person')
        .choices(['resident', 'staff', 'guest'])
        .default('resident'),
    )
    .action((name: string, o: { id?: string; kind: 'resident' | 'staff' | 'guest' }) =>
      withStore((store, _c, json) => {
        const p = store.people.add({ ...(o.id ? { id: o.id } : {}), name, kind: o.kind });
        print(json, p, () => io.out(`person '${p.id}' added (${p.kind}: ${p.name})`));
      }),
    );
  person
    .command('list')
    .description('list people')
    .action(() =>
      withStore((store, _c, json) => {
        const people = store.people.list();
        print(json, people, () =>
          printTable(
            people.map((p) => ({
              id: p.id,
              name: p.name,
              kind: p.kind,
              suspended: p.suspended ? 'yes' : 'no',
            })),
            io,
          ),
        );
      }),
    );
  for (const [verb, suspended] of [
    ['suspend', true],
    ['unsuspend', false],
  ] as const) {
    person
      .command(`${verb} <id>`)
      .description(
        suspended ? 'suspend a person: every credential stops working at once' : 'lift a suspension',
      )
      .action((id: string) =>
        withStore((store) => {
          store.people.setSuspended(id, suspended, 'cli');
          io.out(`person '${id}' ${suspended ? 'suspended' : 'unsuspended'}`);
        }),
      );
  }
  person
    .command('remove <id>')
    .description('remove a person and their credentials')
    .action((id: string) =>
      withStore((store) => {
        store.people.remove(id);
        io.out(`person '${id}' removed`);
      }),
    );

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
        withStore(async (store, config, json) => {
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
            validFrom: o.from ? parseTimeArg(o.from, config.timeZone) : null,
            validUntil: o.until ? parseTimeArg(o.until, config.timeZone) : null,
          };
          let pin = '';
          if (wantsPin) {
            pin = (await io.readSecret(`PIN for ${personId}: `)).trim();
            if (pin === '') throw new UsageError('no PIN given (empty input)');
          }
          const c =
            o.card !== undefined
              ? store.credentials.addCard(personId, o.card, window)
              : store.credentials.addPin(personId, pin, window);
          print(json, c, () => io.out(`credential '${c.id}' added for '${personId}' (${c.label})`));
        }),
    );
  credential
    .command('list')
    .description('list credentials')
    .option('--person <id>', 'only this person')
    .action((o: { person?: string }) =>
      withStore((store, config, json) => {
        const list = o.person ? store.credentials.listForPerson(o.person) : store.credentials.list();
        print(json, list, () =>
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
    .action((id: string, o: { reason?: string }) =>
      withStore((store) => {
        store.credentials.revoke(id, o.reason ?? 'cli');
        io.out(`credential '${id}' revoked`);
      }),
    );

  // --- access groups and schedules
  const group = program
    .command('group')
    .description('access groups: which people may open which doors, when');
  group
    .command('add <id>')
    .description('add an access group')
    .option('--name <name>', 'display name')
    .option('--schedule <id>', 'weekly schedule (default: always)')
    .action((id: string, o: { name?: string; schedule?: string }) =>
      withStore((store) => {
        store.groups.add({ id, name: o.name ?? id, scheduleId: o.schedule ?? null });
        io.out(`group '${id}' added${o.schedule ? ` (schedule '${o.schedule}')` : ' (always)'}`);
      }),
    );
  group
    .command('list')
    .description('list access groups')
    .action(() =>
      withStore((store, _c, json) => {
        const groups = store.groups.list();
        print(json, groups, () =>
          printTable(
            groups.map((g) => ({
              id: g.id,
              name: g.name,
              schedule: g.scheduleId ?? 'always',
              doors: g.doorIds.join(','),
              members: store.groups.members(g.id).length,
            })),
            io,
          ),
        );
      }),
    );
  group
    .command('remove <id>')
    .description('remove an access group')
    .action((id: string) =>
      withStore((store) => {
        store.groups.remove(id);
        io.out(`group '${id}' removed`);
      }),
    );
  group
    .command('schedule <group> <schedule>')
    .description("set the group's schedule ('always' for none)")
    .action((groupId: string, scheduleId: string) =>
      withStore((store) => {
        store.groups.setSchedule(groupId, scheduleId === 'always' ? null : scheduleId);
        io.out(
          `group '${groupId}' now uses ${scheduleId === 'always' ? 'no schedule (always)' : `schedule '${scheduleId}'`}`,
        );
      }),
    );
  for (const [noun, what] of [
    ['door', 'doors'],
    ['member', 'members'],
  ] as const) {
    const sub = group.command(noun).description(`group ${what}`);
    sub
      .command(`add <group> <${noun}...>`)
      .description(`add ${what} to a group`)
      .action((groupId: string, ids: string[]) =>
        withStore((store) => {
          for (const id of ids)
            noun === 'door' ? store.groups.addDoor(groupId, id) : store.groups.addMember(groupId, id);
          io.out(`group '${groupId}': added ${noun} ${ids.join(', ')}`);
        }),
      );
    sub
      .command(`remove <group> <${noun}...>`)
      .description(`remove ${what} from a group`)
      .action((groupId: string, ids: string[]) =>
        withStore((store) => {
          for (const id of ids)
            noun === 'door' ? store.groups.removeDoor(groupId, id) : store.groups.removeMember(groupId, id);
          io.out(`group '${groupId}': removed ${noun} ${ids.join(', ')}`);
        }),
      );
  }

  const schedule = program
    .command('schedule')
    .description('weekly schedules (building time zone, minute precision)');
  schedule
    .command('set <id> <interval...>')
    .description(
      'create or replace a schedule, e.g. mon-fri@07:00-19:00 sat@09:00-13:00 fri@22:00-02:00 hol@10:00-12:00',
    )
    .option('--name <name>', 'display name')
    .action((id: string, intervals: string[], o: { name?: string }) =>
      withStore((store) => {
        const parsed = intervals.flatMap(parseIntervalArg);
        store.schedules.set(id, o.name ?? id, parsed);
        io.out(`schedule '${id}' set (${parsed.length} intervals)`);
      }),
    );
  schedule
    .command('list')
    .description('list schedules')
    .action(() =>
      withStore((store, _c, json) => {
        const list = store.schedules.list();
        print(json, list, () =>
          printTable(
            list.map((s) => ({
              id: s.id,
              name: s.name,
              intervals: s.intervals.map((i) => `${i.day}@${i.from}-${i.to}`).join(' '),
            })),
            io,
          ),
        );
      }),
    );
  schedule
    .command('remove <id>')
    .description('remove a schedule (refused while a group uses it)')
    .action((id: string) =>
      withStore((store) => {
        store.schedules.remove(id);
        io.out(`schedule '${id}' removed`);
      }),
    );

  const holiday = program
    .command('holiday')
    .description("holidays: on these dates only a schedule's hol@ intervals apply");
  holiday
    .command('add <date> [name]')
    .description('add a holiday (YYYY-MM-DD)')
    .action((date: string, name: string | undefined) =>
      withStore((store) => {
        store.holidays.add(date, name ?? 'Holiday');
        io.out(`holiday ${date} added`);
      }),
    );
  holiday
    .command('list')
    .description('list holidays')
    .action(() =>
      withStore((store, _c, json) => {
        const list = store.holidays.list();
        print(json, list, () =>
          printTable(
            list.map((h) => ({ date: h.date, name: h.name })),
            io,
          ),
        );
      }),
    );
  holiday
    .command('remove <date>')
    .description('remove a holiday')
    .action((date: string) =>
      withStore((store) => {
        store.holidays.remove(date);
        io.out(`holiday ${date} removed`);
      }),
    );

  // --- staff users
  const user = program.command('user').description('staff logins for the web UI and API');
  user
    .command('add <username>')
    .description(
      'add a staff user; the password is asked for (or read from stdin), never taken from the command line',
    )
    .addOption(
      new Option('--role <role>', 'what the user may do')
        .choices(['admin', 'staff', 'installer'])
        .makeOptionMandatory(),
    )
    .action((username: string, o: { role: 'admin' | 'staff' | 'installer' }) =>
      withStore(async (store, config) => {
        const password = await io.readSecret(`Password for ${username}: `);
        const u = await store.users.add(username, password, o.role);
        // A staff user exists now: the first-run setup token is of no more use.
        removeSetupTokenFile(config.dataDir);
        io.out(`user '${u.username}' added (${u.role})`);
      }),
    );
  user
    .command('list')
    .description('list staff users')
    .action(() =>
      withStore((store, _c, json) => {
        const list = store.users.list();
        print(json, list, () =>
          printTable(
            list.map((u) => ({ username: u.username, role: u.role })),
            io,
          ),
        );
      }),
    );
  user
    .command('remove <username>')
    .description('remove a staff user and end their sessions')
    .action((username: string) =>
      withStore((store) => {
        store.users.remove(username);
        io.out(`user '${username}' removed`);
      }),
    );

  // --- events
  const events = program.command('events').description('the audit log: every decision, alarm and change');
  events
    .command('list', { isDefault: true })
    .description('show the latest events')
    .option('-n, --limit <n>', 'how many', intArg('--limit'), 20)
    .option('--type <prefix>', 'only events whose type starts with this (decision, alarm, admin, door)')
    .action((o: { limit: number; type?: string }) =>
      withStore((store, config, json) => {
        const list = store.events.list({ limit: o.limit, ...(o.type ? { type: o.type } : {}) });
        print(json, list, () =>
          printTable(
            list.map((e) => ({
              seq: e.seq,
              time: formatTime(e.ts, config.timeZone),
              type: e.type,
              door: e.doorId,
              person: e.personId,
              detail: JSON.stringify(e.data),
            })),
            io,
          ),
        );
      }),
    );
  events
    .command('verify')
    .description('check the hash chain of the whole event log')
    .action(() =>
      withStore((store, _c, json) => {
        const result = store.events.verify();
        print(json, result, () =>
          io.out(
            result.ok
              ? `event log OK: ${result.checked} events, hash chain intact`
              : `EVENT LOG BROKEN at seq ${result.brokenAt} (checked ${result.checked}): the log was altered or damaged`,
          ),
        );
        if (!result.ok) process.exitCode = 3;
      }),
    );

  // --- backup / restore
  const passphraseHelp =
    'read the passphrase from this file (first line); else $GATEHOUSE_BACKUP_PASSPHRASE, else a prompt or stdin';
  const noArgvPassphrase = new Option('--passphrase <text>').hideHelp();
  program
    .command('backup <file>')
    .description('write ONE encrypted backup (database and every key) while the hub runs')
    .option('--passphrase-file <path>', passphraseHelp)
    .addOption(noArgvPassphrase)
    .action((file: string, o: PassphraseOptions) =>
      withStore(async (_store, config, json, opened) => {
        const passphrase = await readBackupPassphrase(o, io, true);
        const result = await createBackup({ file, passphrase, dataDir: config.dataDir, db: opened.db });
        print(json, result, () =>
          io.out(
            `encrypted backup written to ${file} (${result.bytes} bytes: database with ${result.events} events, ` +
              `${result.files.length - 1} key files). Keep the passphrase apart from the file: ` +
              'without it the backup cannot be restored.',
          ),
        );
      }),
    );
  program
    .command('restore <file>')
    .description('replace the database and keys with an encrypted backup (stop the hub first)')
    .option('--passphrase-file <path>', passphraseHelp)
    .option('--check', 'only check the file and the passphrase; change nothing (allowed while the hub runs)')
    .addOption(noArgvPassphrase)
    .action(async (file: string, o: PassphraseOptions & { check?: boolean }) => {
      const { config, json } = ctx();
      const passphrase = await readBackupPassphrase(o, io, false);
      if (o.check) {
        const checked = await inspectBackup({ file, passphrase });
        print(json, checked, () =>
          io.out(
            `backup OK: hub ${checked.manifest.hubId} as of ${checked.manifest.createdAt}, ` +
              `${checked.manifest.events} events, ${checked.files.length} files; every byte verified`,
          ),
        );
        return;
      }
      const running = await callHub(config.dataDir, 'GET', '/health').then(
        () => true,
        () => false,
      );
      if (running)
        throw new HubRefusedError('the hub is running: stop it first (sudo systemctl stop gatehouse)');
      const result = await restoreBackup({ file, passphrase, dataDir: config.dataDir });
      print(json, result, () =>
        io.out(
          `restored hub ${result.hubId} as of ${result.createdAt} (${result.events} events, keys: ` +
            `${result.files.filter((f) => f !== DB_FILE_NAME).join(', ')})` +
            (result.previous ? `; the replaced files are in ${result.previous}` : '') +
            '. Start the hub again.',
        ),
      );
    });

  program
    .command('config')
    .description('check the config and print it with defaults filled in (secrets shown as [redacted])')
    .action(() => {
      const { config } = ctx();
      io.out(JSON.stringify(redactSecrets(config), null, 2));
    });

  registerHardwareCommands(program, async () => {
    const { config } = ctx();
    return { hardware: config.hardware };
  });

  registerCodeCommands(program, {
    io,
    withStore,
    offlineConfig: (c) => c.offline,
    usageError: (m) => new UsageError(m),
  });

  registerPhoneCommands(program, {
    io,
    settings: () => {
      const { config, json } = ctx();
      return { dataDir: config.dataDir, timeZone: config.timeZone, json };
    },
  });

  return program;
}

/** Run the CLI; returns the exit code (0 ok, 1 refused by the store/config, 2 usage). */
export async function runCli(
  argv: string[],
  io: CliIO = defaultIO,
  startHub?: (configFile?: string) => Promise<void>,
): Promise<number> {
  // `--pin=1234` would otherwise only get commander's "unknown option".
  if (argv.some((a) => /^--pin(-stdin)?=/.test(a))) {
    io.err(
      `error: ${secretOnArgv('PIN', '`printf \'%s\\n\' "$PIN" | npx gatehouse credential add <person> --pin-stdin`').message}`,
    );
    return 2;
  }
  const program = buildProgram(io, startHub);
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 1;
    }
    const e = err as Error;
    if (
      [
        'StoreError',
        'RestoreError',
        'BackupError',
        'HubNotRunningError',
        'HubRefusedError',
        'HardwareConfigError',
      ].includes(e.name)
    ) {
      io.err(`error: ${e.message}`);
      return 1;
    }
    io.err(`error: ${e.message ?? String(err)}`);
    return 1;
  }
}

/** The doors table shows each reader as `id` when it works and `id OFFLINE since …: error` when not. */
function withReaderColumn(door: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(door.readers)) return { ...door, readers: null };
  const readers = (
    door.readers as Array<{ id?: unknown; state?: unknown; since?: unknown; lastError?: unknown }>
  )
    .map((r) => {
      if (r.state === 'online' || r.state === 'unsupervised') return String(r.id);
      const since =
        typeof r.since === 'number' ? ` since ${new Date(r.since).toISOString().slice(11, 19)}Z` : '';
      const error = typeof r.lastError === 'string' ? `: ${r.lastError}` : '';
      return `${String(r.id)} ${String(r.state).toUpperCase()}${since}${error}`;
    })
    .join(', ');
  return { ...door, readers };
}
