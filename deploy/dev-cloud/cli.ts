// Admin CLI of the development cloud: a thin client of its admin HTTP API.
//   node dist/deploy/dev-cloud/cli.js --help
import { Command } from 'commander';
import { formatLocalMinute } from '../../hub/access/localtime.js';
import type { IssuedCloudCode } from './server.js';

interface CliContext {
  url: string;
  token?: string;
}

async function call(
  ctx: CliContext,
  method: string,
  path: string,
  body?: unknown,
  show?: (value: unknown) => string[],
): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (ctx.token) headers['authorization'] = `Bearer ${ctx.token}`;
  let response: Response;
  try {
    response = await fetch(`${ctx.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`cannot reach the dev cloud admin API at ${ctx.url}: ${(err as Error).message}`);
  }
  const text = await response.text();
  if (response.ok && show) {
    process.stdout.write(`${show(JSON.parse(text)).join('\n')}\n`);
    return;
  }
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  if (!response.ok) process.exitCode = 1;
}

function parseTime(value: string | undefined): number | null {
  if (value === undefined) return null;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new Error(`not a time: ${value}`);
  return ms;
}

/** What staff read out to the guest, and what they need to revoke it. */
export function describeIssued(code: IssuedCloudCode): string[] {
  const grace = code.graceMinutes > 0 ? `, ±${code.graceMinutes} min` : '';
  return [
    `code:    ${code.digits}`,
    `serial:  ${code.serial}   (revoke with: revoke-code <hub> ${code.serial})`,
    `for:     ${code.personId !== null ? `person ${code.personId}` : (code.label ?? '-')}`,
    `type:    ${code.type}   scope: ${code.scope}`,
    `valid:   ${formatLocalMinute(code.validFrom, code.timeZone)} – ${formatLocalMinute(code.validUntil, code.timeZone)} (${code.timeZone}${grace})`,
    code.hubConnected
      ? 'hub:     connected: it learns this code now'
      : `hub:     not connected: the code works at the keypad anyway; the hub learns it when the link is back (change ${code.changeNo})`,
    'The code is shown only now; it is not stored.',
  ];
}

export function buildCli(): Command {
  const program = new Command()
    .name('gatehouse-dev-cloud-cli')
    .description('Manage the Gatehouse development cloud (people, credentials, commands, received events).')
    .option(
      '--url <url>',
      'admin API of the dev cloud',
      process.env['GATEHOUSE_DEV_CLOUD_ADMIN'] ?? 'http://127.0.0.1:50052',
    )
    .option('--admin-token <token>', 'admin API token', process.env['GATEHOUSE_DEV_CLOUD_ADMIN_TOKEN']);
  const ctx = (): CliContext => {
    const opts = program.opts<{ url: string; adminToken?: string }>();
    return { url: opts.url.replace(/\/$/, ''), token: opts.adminToken };
  };
  const hubPath = (hub: string) => `/hubs/${encodeURIComponent(hub)}`;

  program
    .command('hubs')
    .description('list hubs: connected, events stored, changes applied')
    .action(() => call(ctx(), 'GET', '/hubs'));
  program
    .command('add-hub <hubId>')
    .description('register a hub and print its token (put it in the hub config or GATEHOUSE_CLOUD_TOKEN)')
    .action((hubId: string) => call(ctx(), 'POST', '/hubs', { id: hubId }));
  program
    .command('person <hubId> <personId> <name>')
    .description('add or update a person')
    .option('--kind <kind>', 'resident | staff | guest', 'resident')
    .option('--unit <unitId>', 'unit id')
    .option('--groups <ids>', 'comma-separated access group ids')
    .action(
      (hubId: string, personId: string, name: string, o: { kind: string; unit?: string; groups?: string }) =>
        call(ctx(), 'POST', `${hubPath(hubId)}/people/${encodeURIComponent(personId)}`, {
          name,
          kind: o.kind,
          ...(o.unit ? { unitId: o.unit } : {}),
          ...(o.groups !== undefined ? { groupIds: o.groups.split(',').filter(Boolean) } : {}),
        }),
    );
  program
    .command('credential <hubId> <credentialId> <personId> <kind> <value>')
    .description(
      'add or update a credential (kind: card | pin | mobile; value: card hex, PIN digits, key id)',
    )
    .option('--label <label>', 'label for staff (mobile keys)')
    .option('--from <time>', 'valid from (ISO time or epoch ms)')
    .option('--until <time>', 'valid until (ISO time or epoch ms)')
    .action(
      (
        hubId: string,
        credentialId: string,
        personId: string,
        kind: string,
        value: string,
        o: { label?: string; from?: string; until?: string },
      ) =>
        call(ctx(), 'POST', `${hubPath(hubId)}/credentials/${encodeURIComponent(credentialId)}`, {
          personId,
          kind,
          value,
          ...(o.label ? { label: o.label } : {}),
          validFrom: parseTime(o.from),
          validUntil: parseTime(o.until),
        }),
    );
  program
    .command('revoke <hubId> <credentialId>')
    .description('revoke a credential')
    .action((hubId: string, id: string) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/credentials/${encodeURIComponent(id)}/revoke`, {}),
    );
  program
    .command('revoke-code <hubId> <serial>')
    .description('revoke an offline doorcode by its serial (oc-xxxxxxxxxxxx, see `gatehouse code list`)')
    .option('--reason <text>', 'why (kept in the hub audit log)')
    .action((hubId: string, serial: string, o: { reason?: string }) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/codes/${encodeURIComponent(serial)}/revoke`, {
        ...(o.reason !== undefined ? { reason: o.reason } : {}),
      }),
    );
  program
    .command('issue-code <hubId>')
    .description(
      'issue an offline doorcode from the secret the hub handed over (works while the hub is unreachable)',
    )
    .option('--person <id>', 'for this person (suspending them on the hub stops the code)')
    .option('--guest <label>', 'for a guest, e.g. "plumber"')
    .option('--door <id>', 'valid at this door')
    .option('--group <id>', "valid at this access group's doors (several doors)")
    .option('--site', 'valid at every door')
    .option('--daily [date]', 'valid one day (YYYY-MM-DD, building time; default today)')
    .option('--hours <n>', 'valid N hours (1-672) from --from')
    .option('--once', 'one entry within its window (default 24 h; see --hours)')
    .option('--from <time>', 'window start: ISO time with offset or epoch ms (default now)')
    .option('--json', 'print the JSON answer')
    .action(
      (
        hubId: string,
        o: {
          person?: string;
          guest?: string;
          door?: string;
          group?: string;
          site?: boolean;
          daily?: string | boolean;
          hours?: string;
          once?: boolean;
          from?: string;
          json?: boolean;
        },
      ) => {
        const kinds = [o.daily !== undefined, o.once === true].filter(Boolean).length;
        if (kinds > 1) throw new Error('give one of --daily, --hours N, --once');
        const kind =
          o.daily !== undefined ? 'daily' : o.once ? 'once' : o.hours !== undefined ? 'window' : null;
        if (kind === null) throw new Error('give one of --daily [date], --hours N, --once');
        if (o.hours !== undefined && !/^\d+$/.test(o.hours))
          throw new Error('--hours must be a whole number');
        return call(
          ctx(),
          'POST',
          `${hubPath(hubId)}/codes`,
          {
            kind,
            ...(o.person !== undefined ? { personId: o.person } : {}),
            ...(o.guest !== undefined ? { label: o.guest } : {}),
            ...(o.door !== undefined ? { doorId: o.door } : {}),
            ...(o.group !== undefined ? { groupId: o.group } : {}),
            ...(o.site ? { site: true } : {}),
            ...(typeof o.daily === 'string' ? { date: o.daily } : {}),
            ...(o.hours !== undefined ? { hours: Number(o.hours) } : {}),
            ...(o.from !== undefined ? { from: parseTime(o.from) } : {}),
          },
          o.json ? undefined : (value) => describeIssued(value as IssuedCloudCode),
        );
      },
    );
  program
    .command('codes <hubId>')
    .description('doorcodes issued here for a hub (serials and validity, never the digits)')
    .action((hubId: string) => call(ctx(), 'GET', `${hubPath(hubId)}/codes`));
  program
    .command('code-secret <hubId>')
    .description('which doorcode secret version the hub handed over (never the secret)')
    .action((hubId: string) => call(ctx(), 'GET', `${hubPath(hubId)}/code-secret`));
  program
    .command('link-down')
    .description('stop serving hubs (they see the link drop); the admin API keeps working')
    .action(() => call(ctx(), 'POST', '/grpc/stop', {}));
  program
    .command('link-up')
    .description('serve hubs again on the same port')
    .action(() => call(ctx(), 'POST', '/grpc/start', {}));
  program
    .command('suspend <hubId> <personId>')
    .description('suspend a person (all their credentials stop working)')
    .action((hubId: string, id: string) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/people/${encodeURIComponent(id)}/suspend`, {}),
    );
  program
    .command('unsuspend <hubId> <personId>')
    .description('lift a suspension')
    .action((hubId: string, id: string) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/people/${encodeURIComponent(id)}/unsuspend`, {}),
    );
  program
    .command('logout-everywhere <hubId> <personId>')
    .description("bump the person's key epoch: their mobile keys stop working")
    .action((hubId: string, id: string) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/people/${encodeURIComponent(id)}/logout-everywhere`, {}),
    );
  program
    .command('change <hubId> <kind> <op> <id> [json]')
    .description(
      'push any change (kind: person|unit|credential|group|schedule|door|holiday|code_revocation; op: upsert|delete)',
    )
    .action((hubId: string, kind: string, op: string, id: string, json?: string) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/changes`, { kind, op, id, data: json ? JSON.parse(json) : {} }),
    );
  program
    .command('unlock <hubId> <doorId>')
    .description('unlock a door once (goes through the hub policy)')
    .option('--ms <ms>', 'unlock time in ms', '5000')
    .action((hubId: string, doorId: string, o: { ms: string }) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/commands`, { kind: 'unlock', doorId, ms: Number(o.ms) }),
    );
  program
    .command('mode <hubId> <doorId> <mode>')
    .description('set a door mode: normal | lockdown | unlocked')
    .action((hubId: string, doorId: string, mode: string) =>
      call(ctx(), 'POST', `${hubPath(hubId)}/commands`, { kind: 'set_mode', doorId, mode }),
    );
  program
    .command('events <hubId>')
    .description('list events the hub has sent')
    .option('--after <seq>', 'only after this seq', '0')
    .option('--limit <n>', 'at most this many', '50')
    .option('--type <type>', 'only this event type')
    .action((hubId: string, o: { after: string; limit: string; type?: string }) => {
      const query = new URLSearchParams({
        after: o.after,
        limit: o.limit,
        ...(o.type ? { type: o.type } : {}),
      });
      return call(ctx(), 'GET', `${hubPath(hubId)}/events?${query}`);
    });
  program
    .command('changes <hubId>')
    .description('list the change log of a hub')
    .action((hubId: string) => call(ctx(), 'GET', `${hubPath(hubId)}/changes`));
  program
    .command('rejections <hubId>')
    .description('changes the hub refused, with its reasons')
    .action((hubId: string) => call(ctx(), 'GET', `${hubPath(hubId)}/rejections`));
  return program;
}

if (process.argv[1]?.endsWith('/dev-cloud/cli.js') || process.argv[1]?.endsWith('/dev-cloud/cli.ts')) {
  buildCli()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      console.error(`error: ${(err as Error).message}`);
      process.exit(1);
    });
}
