// `gatehouse code …` and `gatehouse keypad …`: offline daily / temporary doorcodes and the keypad
// daily failure cap (docs/offline-codes.md). Registered by program.ts: registerCodeCommands(program, deps).
import type { Command } from 'commander';
import { DEFAULT_KEYPAD_LOCKOUT_POLICY, type KeypadLockoutPolicy } from '../access/lockout.js';
import { offlineCodesPort } from '../commands/command.js';
import type { Config } from '../config/index.js';
import { listDisabledKeypads } from '../offline/cap.js';
import type { CodeType } from '../offline/codes.js';
import { type OfflineConfig, resolveOfflineConfig } from '../offline/config.js';
import { OfflineCodes } from '../offline/offline-codes.js';
import { formatOdds } from '../offline/risk.js';
import { CodeSecret } from '../offline/secret.js';
import { recordSecretVersion } from '../offline/secret-share.js';
import type { OpenedStore } from '../open-store.js';
import type { Store } from '../store/store.js';
import { CLI_COMMANDS } from './command-table.js';
import { executeOn } from './run-command.js';
import { printTable } from './table.js';
import { formatTime, parseTimeArg } from './time.js';

export interface CodeCommandDeps {
  io: { out: (line: string) => void; err: (line: string) => void };
  /** program.ts's withStore: opens the store, runs fn, closes it. */
  withStore: (
    fn: (store: Store, config: Config, json: boolean, opened: OpenedStore) => void | Promise<void>,
  ) => Promise<void>;
  /** The `offline` section of the config (default: read `config.offline` and fill defaults). */
  offlineConfig?: (config: Config) => OfflineConfig;
  /** Thrown for wrong usage (exit code 2); default Error. */
  usageError?: (message: string) => Error;
}

function lockoutPolicyOf(config: Config): Partial<KeypadLockoutPolicy> {
  const keypad = (config as { keypad?: Partial<Record<string, number>> }).keypad;
  if (!keypad) return DEFAULT_KEYPAD_LOCKOUT_POLICY;
  return {
    maxFailures: keypad.maxFailures ?? DEFAULT_KEYPAD_LOCKOUT_POLICY.maxFailures,
    windowMs: (keypad.windowSeconds ?? 300) * 1000,
    baseLockMs: (keypad.lockSeconds ?? 60) * 1000,
    maxLockMs: (keypad.maxLockSeconds ?? 900) * 1000,
  };
}

function intArg(name: string) {
  return (value: string) => {
    if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number`);
    return Number(value);
  };
}

export function registerCodeCommands(program: Command, deps: CodeCommandDeps): void {
  const { io } = deps;
  const usage = deps.usageError ?? ((message: string) => new Error(message));
  const offlineOf = (config: Config) =>
    deps.offlineConfig
      ? deps.offlineConfig(config)
      : resolveOfflineConfig((config as { offline?: unknown }).offline);
  const withCodes = (
    fn: (codes: OfflineCodes, store: Store, config: Config, json: boolean) => void | Promise<void>,
  ) =>
    deps.withStore((store, config, json) => {
      const secret = CodeSecret.loadOrCreate(config.dataDir);
      const codes = new OfflineCodes({
        store,
        secret: secret.bytes(),
        timeZone: config.timeZone,
        config: offlineOf(config),
        lockoutPolicy: lockoutPolicyOf(config),
      });
      return fn(codes, store, config, json);
    });
  const print = (json: boolean, value: unknown, human: () => void) => {
    if (json) io.out(JSON.stringify(value, null, 2));
    else human();
  };

  const code = program
    .command('code')
    .description('offline daily and temporary doorcodes: issue, revoke, list');
  code
    .command('issue')
    .description('issue a doorcode that works even when the internet is down (shown once)')
    .option('--person <id>', 'for this person (suspending them stops the code)')
    .option('--guest <label>', 'for a guest, e.g. "plumber" (shown to staff only)')
    .option('--door <id>', 'valid at this door')
    .option('--group <id>', "valid at this access group's doors")
    .option('--site', 'valid at every door')
    .option('--daily [date]', 'valid one day, midnight to midnight, building time (default today)')
    .option('--hours <n>', 'valid N hours (1-672) from --from', intArg('--hours'))
    .option('--once', 'valid for one entry within its window (default window 24 h; see --hours)')
    .option('--first-use', 'valid 15 minutes after first entry, within its window (default 24 h)')
    .option(
      '--from <time>',
      'window start, rounded down to the hour (YYYY-MM-DD[THH:MM] building time; default now)',
    )
    .action(
      (o: {
        person?: string;
        guest?: string;
        door?: string;
        group?: string;
        site?: boolean;
        daily?: string | boolean;
        hours?: number;
        once?: boolean;
        firstUse?: boolean;
        from?: string;
      }) =>
        withCodes(async (codes, store, config, json) => {
          const scopes = [
            o.door ? `door:${o.door}` : null,
            o.group ? `group:${o.group}` : null,
            o.site ? 'site' : null,
          ].filter((s): s is string => s !== null);
          if (scopes.length !== 1) throw usage('give exactly one of --door <id>, --group <id> or --site');
          if (o.person !== undefined && o.guest !== undefined)
            throw usage('give --person or --guest, not both');
          const kinds = [o.daily !== undefined, o.once === true, o.firstUse === true].filter(Boolean).length;
          if (kinds > 1) throw usage('give one of --daily, --hours N, --once, --first-use');
          let type: CodeType;
          if (o.daily !== undefined) type = 'daily';
          else if (o.once) type = 'once';
          else if (o.firstUse) type = 'first-use';
          else if (o.hours !== undefined) type = 'hourly';
          else throw usage('give one of --daily [date], --hours N, --once, --first-use');
          if (type === 'daily' && o.hours !== undefined) throw usage('--daily takes no --hours');
          const input: Record<string, unknown> = {
            kind: type === 'hourly' ? 'window' : type,
            doors: scopes[0]!,
            ...(o.person !== undefined ? { personId: o.person } : {}),
            ...(o.guest !== undefined ? { label: o.guest } : {}),
          };
          if (type === 'daily') {
            if (typeof o.daily === 'string') input.date = o.daily;
          } else {
            if (o.from) input.from = parseTimeArg(o.from, config.timeZone);
            input.hours = o.hours ?? 24;
          }
          const { code: issued } = (await executeOn(store, CLI_COMMANDS, 'code.issue', input, {
            codes: offlineCodesPort(codes, config.timeZone),
          })) as {
            code: ReturnType<OfflineCodes['issue']>;
          };
          print(json, issued, () => {
            io.out(`code:    ${issued.digits}`);
            io.out(`serial:  ${issued.serial}   (revoke with: gatehouse code revoke ${issued.serial})`);
            io.out(`type:    ${issued.type}   scope: ${issued.scope}`);
            io.out(
              `valid:   ${formatTime(issued.window.start, config.timeZone)} – ${formatTime(issued.window.end, config.timeZone)} (${config.timeZone})`,
            );
            io.out('The code is shown only now; it is not stored.');
          });
        }),
    );
  code
    .command('revoke <serial>')
    .description('revoke a code by serial: it stops working at every door at once, online or not')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action((serial: string, o: { reason?: string }) =>
      withCodes(async (codes, store, config) => {
        const result = (await executeOn(
          store,
          CLI_COMMANDS,
          'code.revoke',
          { serial, ...(o.reason ? { reason: o.reason } : {}) },
          { codes: offlineCodesPort(codes, config.timeZone) },
        )) as ReturnType<OfflineCodes['revoke']>;
        io.out(result.alreadyRevoked ? `code ${serial} was already revoked` : `code ${serial} revoked`);
      }),
    );
  code
    .command('list')
    .description('codes the hub knows (issued here or used at a door) and revoked serials')
    .option('--all', 'include expired codes')
    .action((o: { all?: boolean }) =>
      withCodes((codes, _store, config, json) => {
        const list = codes.list({ includeExpired: o.all === true });
        const revoked = codes.revocations();
        print(json, { codes: list, revoked }, () => {
          printTable(
            list.map((c) => ({
              serial: c.serial,
              type: c.type,
              scope: c.scope,
              from: formatTime(c.windowStart, config.timeZone),
              until: formatTime(c.windowEnd, config.timeZone),
              for: c.personId ?? c.label ?? '-',
              by: c.issuedBy ?? 'cloud/door',
              'first-used': formatTime(c.firstUsedAt, config.timeZone),
              revoked: c.revokedAt ? formatTime(c.revokedAt, config.timeZone) : '-',
            })),
            io,
          );
          const unknownRevoked = revoked.filter((r) => !list.some((c) => c.serial === r.serial));
          if (unknownRevoked.length > 0) {
            io.out('');
            io.out(`revoked serials not issued here (${unknownRevoked.length}):`);
            for (const r of unknownRevoked)
              io.out(`  ${r.serial}  ${formatTime(r.revokedAt, config.timeZone)}  ${r.actor ?? ''}`);
          }
        });
      }),
    );
  code
    .command('guess-risk')
    .description('chance that someone guessing at one keypad gets in within a day, per door')
    .option('--door <id>', 'only this door')
    .option(
      '--scan',
      'find every 4- and 5-digit PIN first (about a second) so short codes are counted exactly',
    )
    .action((o: { door?: string; scan?: boolean }) =>
      withCodes((codes, store, config, json) => {
        if (o.scan) codes.scanShortPins();
        const doors = o.door ? [o.door] : store.doors.list().map((d) => d.id);
        const limit = offlineOf(config).maxDailyGuessProbability;
        const reports = doors.map((id) => codes.guessRisk(id));
        print(json, reports, () => {
          printTable(
            reports.map((r) => ({
              door: r.doorId,
              'per-day': r.perDay.toExponential(2),
              odds: r.odds,
              limit: formatOdds(limit),
              status: r.overLimit ? 'TOO HIGH' : 'ok',
              'worst-length': r.worstLength,
              'personal-codes': r.personalCodes,
              'guesses/day': r.guessesPerDay,
            })),
            io,
          );
          if (reports.some((r) => r.overLimit)) {
            io.out('');
            io.out('Too high: give residents longer PINs (8+ digits) or lower keypadDailyFailureCap.');
          }
          if (reports.some((r) => r.assumedLengthCodes > 0)) {
            io.out(
              `PINs of unknown length are counted as ${offlineOf(config).assumedPinDigits} digits (run with --scan).`,
            );
          }
        });
      }),
    );
  code
    .command('secret-rotate')
    .description(
      'replace the code secret: every doorcode made so far (here or in the cloud) stops working; the hub sends the new one to the cloud over TLS',
    )
    .option('--yes', 'really rotate (all issued codes stop working)')
    .action((o: { yes?: boolean }) =>
      deps.withStore((store, config, json) => {
        if (o.yes !== true)
          throw usage('every doorcode issued so far stops working: run again with --yes to rotate');
        const rotated = CodeSecret.rotate(config.dataDir);
        const version = recordSecretVersion(store, rotated, store.actor ?? 'cli');
        print(json, version, () => {
          io.out(`code secret rotated: version ${version.version} (fingerprint ${version.fingerprint})`);
          io.out(
            'The running hub uses it within seconds and hands it to the cloud over the TLS link; codes made before stop working.',
          );
        });
      }),
    );
  code
    .command('secret-export')
    .description(
      'fallback only: print the code secret (64 hex) for a cloud that cannot take it over the link. Anyone with it can make doorcodes.',
    )
    .action(() =>
      deps.withStore((_store, config) => {
        const secret = CodeSecret.loadOrCreate(config.dataDir);
        io.err(
          'WARNING: anyone with this secret can create doorcodes for this building. Do not paste it into chats or tickets.',
        );
        io.out(secret.exportHex());
      }),
    );

  const keypad = program.command('keypad').description('keypads disabled by the daily failure cap');
  keypad
    .command('enable <door> <reader>')
    .description("re-enable a keypad's codes after the daily failure cap disabled it")
    .action((door: string, reader: string) =>
      deps.withStore(async (store) => {
        const { enabled } = (await executeOn(store, CLI_COMMANDS, 'keypad.enable', {
          doorId: door,
          readerId: reader,
        })) as { enabled: boolean };
        io.out(enabled ? `keypad ${door}/${reader} enabled` : `keypad ${door}/${reader} was not disabled`);
      }),
    );
  keypad
    .command('list')
    .description('keypads whose codes are disabled by the daily failure cap')
    .action(() =>
      deps.withStore((store, config, json) => {
        const list = listDisabledKeypads(store.keypadCap);
        print(json, list, () =>
          printTable(
            list.map((k) => ({
              keypad: k.keypad,
              since: formatTime(k.since, config.timeZone),
              failures: k.failures,
            })),
            io,
          ),
        );
      }),
    );
}
