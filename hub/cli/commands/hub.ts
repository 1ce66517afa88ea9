// `gatehouse start`, `status` and `sim …`: the hub process and what it is doing now.
import type { Command } from 'commander';
import type { BackupsStatus } from '../../backups/index.js';
import type { RetentionStatus } from '../../store/retention.js';
import { type CliContext, HubRefusedError, UsageError } from '../context.js';
import { callHub } from '../hub-client.js';
import { printTable } from '../table.js';
import { formatTime } from '../time.js';

export function registerStartCommand(
  program: Command,
  startHub?: (configFile?: string) => Promise<void>,
): void {
  program
    .command('start')
    .description('start the hub (broker, web server, doors) in the foreground')
    .action(async () => {
      if (!startHub) throw new UsageError('start is only available from the gatehouse binary');
      await startHub(program.opts<{ config?: string }>().config);
    });
}

export function registerHubCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  program
    .command('status')
    .description('show the running hub: listeners, doors and their state')
    .action(async () => {
      const { config, json } = cli.settings();
      const res = await callHub(config.dataDir, 'GET', '/status');
      cli.print(json, res.body, () => {
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
        const nodeRed = (res.body as { nodeRed?: NodeRedStatusLine }).nodeRed;
        if (nodeRed) io.out(nodeRedLine(nodeRed));
        const disk = (
          res.body as { disk?: { path: string; freeBytes: number; totalBytes: number; low: boolean } }
        ).disk;
        if (disk) {
          const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;
          io.out(
            `disk: ${gb(disk.freeBytes)} free of ${gb(disk.totalBytes)} at ${disk.path}${disk.low ? ' (LOW)' : ''}`,
          );
        }
        const backups = (res.body as { backups?: BackupsStatus | null }).backups;
        if (backups?.enabled) io.out(backupsLine(backups, config.timeZone));
        const eventLog = (res.body as { eventLog?: RetentionStatus | null }).eventLog;
        if (eventLog) io.out(eventLogLine(eventLog, config.timeZone));
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
      const { config } = cli.settings();
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

/** `events: oldest kept #112001 of 2025-11-01 08:12, pruned through #112000 on 2026-12-02 (keep 400 days)` */
function eventLogLine(e: RetentionStatus, timeZone: string): string {
  const when = (iso: string | null) => (iso === null ? '?' : formatTime(Date.parse(iso), timeZone));
  const oldest = e.oldestSeq === null ? 'none yet' : `#${e.oldestSeq} of ${when(e.oldestAt)}`;
  const pruned =
    e.prunedThroughSeq === null
      ? 'nothing pruned yet'
      : `pruned through #${e.prunedThroughSeq} on ${when(e.prunedAt)}`;
  const policy = e.enabled ? `keep ${e.keepDays} days` : 'pruning off';
  return `events: oldest kept ${oldest}, ${pruned} (${policy})`;
}

/** `backups: last ok 2026-12-02 03:15 (4.2 MB), next 2026-12-03 03:15; last failure …: …; OVERDUE` */
function backupsLine(b: BackupsStatus, timeZone: string): string {
  const at = (ms: number) => formatTime(ms, timeZone);
  const parts = [
    b.lastSuccess
      ? `last ok ${at(b.lastSuccess.at)} (${(b.lastSuccess.bytes / 1e6).toFixed(1)} MB)`
      : 'none written yet',
  ];
  if (b.nextAt !== null) parts.push(`next ${at(b.nextAt)}`);
  let line = `backups: ${parts.join(', ')}`;
  if (b.lastFailure && (!b.lastSuccess || b.lastFailure.at >= b.lastSuccess.at))
    line += `; last failure ${at(b.lastFailure.at)}: ${b.lastFailure.error}`;
  return b.overdue ? `${line}; OVERDUE (no backup for 48 h)` : line;
}

type NodeRedStatusLine = {
  state: string;
  pid: number | null;
  rssBytes: number | null;
  restarts: number;
  lastExit: { at: number; reason: string } | null;
};

/** `node-red: running (pid 123, 98 MB), 2 restarts, last exit unresponsive at …` */
function nodeRedLine(s: NodeRedStatusLine): string {
  const process = [
    ...(s.pid === null ? [] : [`pid ${s.pid}`]),
    ...(s.rssBytes === null ? [] : [`${Math.round(s.rssBytes / 1e6)} MB`]),
  ];
  let line = `node-red: ${s.state}${process.length > 0 ? ` (${process.join(', ')})` : ''}`;
  if (s.restarts > 0) line += `, ${s.restarts} restart${s.restarts === 1 ? '' : 's'}`;
  if (s.lastExit) line += `, last exit ${s.lastExit.reason} at ${new Date(s.lastExit.at).toISOString()}`;
  return line;
}
