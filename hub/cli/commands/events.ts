// `gatehouse events …`: the audit log and its hash chain.
import type { Command } from 'commander';
import type { HubEvent } from '../../domain.js';
import type { Store } from '../../store/store.js';
import { type CliContext, intArg } from '../context.js';
import { printTable } from '../table.js';
import { formatTime } from '../time.js';

/**
 * `--type alarm.keypad` finds alarm.keypad_disabled too: the type, or any type continuing it after a dot or
 * an underscore (docs/cli.md); a trailing `*` is a raw prefix. The store knows `x*` prefixes; the boundary
 * is checked here, paging back until `limit` events are found.
 */
export function listByType(store: Store, limit: number, type?: string): HubEvent[] {
  if (type === undefined || type.endsWith('*'))
    return store.events.list({ limit, ...(type ? { type } : {}) });
  const found: HubEvent[] = [];
  let beforeSeq: number | undefined;
  const page = Math.max(limit, 200);
  for (;;) {
    const batch = store.events.list({ limit: page, type: `${type}*`, ...(beforeSeq ? { beforeSeq } : {}) });
    for (const e of batch) {
      const next = e.type.charAt(type.length);
      if (next === '' || next === '.' || next === '_') found.push(e);
      if (found.length === limit) return found;
    }
    if (batch.length < page) return found;
    beforeSeq = batch[batch.length - 1]!.seq;
  }
}

export function registerEventsCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- events
  const events = program.command('events').description('the audit log: every decision, alarm and change');
  events
    .command('list', { isDefault: true })
    .description('show the latest events')
    .option('-n, --limit <n>', 'how many', intArg('--limit'), 20)
    .option(
      '--type <prefix>',
      'only this type and the types continuing it after . or _ (alarm, alarm.keypad, decision.denied); end with * for a raw prefix',
    )
    .action((o: { limit: number; type?: string }) =>
      cli.withStore((store, config, json) => {
        const list = listByType(store, o.limit, o.type);
        cli.print(json, list, () =>
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
      cli.withStore((store, _c, json) => {
        const result = store.events.verify();
        cli.print(json, result, () =>
          io.out(
            (result.ok
              ? `event log OK: ${result.checked} events, hash chain intact`
              : `EVENT LOG BROKEN at seq ${result.brokenAt} (checked ${result.checked}): the log was altered or damaged`) +
              // After pruning (docs/storage.md §4) the chain is checked from the anchor the pruning left.
              (result.anchor
                ? `; verified from seq ${result.anchor.seq + 1} (older events pruned on ${new Date(result.anchor.prunedAt).toISOString().slice(0, 10)})`
                : ''),
          ),
        );
        if (!result.ok) process.exitCode = 3;
      }),
    );
}
