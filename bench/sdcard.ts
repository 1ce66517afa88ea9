// SD-card budget (docs/storage.md): bytes a real hub process writes per day at 2,000 and 20,000 events a
// day, compressed in time. Measured from outside, as the kernel counts them: `write_bytes` of
// /proc/<pid>/io (database, WAL, checkpoints, the event journal: every page the hub dirties) plus the
// bytes of its log lines (on an appliance journald writes them to the card). Baseline: the same hub idle.
//   per day = idle bytes per hour × 24 + bytes per decision × decisions per day (+ one scheduled backup)
// Decisions are paced so each is its own commit, as at a real door (one every 4 to 43 seconds), not
// batched by group commit. Goal: ≤ 50 MB/day at 2,000 events/day. Run by bench/run.ts or alone:
// `node dist/bench/sdcard.js`.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { writePassphraseFile } from '../hub/backups/index.js';
import { callHub } from '../hub/cli/hub-client.js';
import { DEFAULT_PERSIST_EVERY_MS } from '../hub/offline/clock.js';
import { openHubStore } from '../hub/open-store.js';
import { DB_FILE_NAME, NEW_DATABASE_PAGE_SIZE } from '../hub/store/db.js';
import {
  BUSY_CONTROLLER_BUDGET,
  diskWriteBytes,
  type HubProcess,
  seedResidents,
  startHubProcess,
} from './hub-process.js';
import type { Figure, SuiteResult } from './report.js';

const RESIDENTS = Number(process.env.BENCH_SDCARD_RESIDENTS ?? 2000);
const DECISIONS = Number(process.env.BENCH_SDCARD_DECISIONS ?? 600);
/** One commit each: far apart enough that group commit never folds two into one transaction. */
const DECISIONS_PER_SECOND = 20;
/**
 * One whole period of the trusted clock's save (hub/offline/clock.ts, every 10 minutes), the idle hub's one
 * writer, plus a margin: a shorter window could hold no save at all and call the idle hub free.
 */
const IDLE_SECONDS = Number(process.env.BENCH_SDCARD_IDLE_SECONDS ?? DEFAULT_PERSIST_EVERY_MS / 1000 + 10);
/**
 * An experiment for the store (docs/storage.md): BENCH_SDCARD_PAGE_SIZE=4096 rebuilds the seeded database
 * with other pages (new databases get NEW_DATABASE_PAGE_SIZE) before the hub opens it. Every commit writes
 * each page it touched in full to the WAL.
 */
const PAGE_SIZE = process.env.BENCH_SDCARD_PAGE_SIZE ? Number(process.env.BENCH_SDCARD_PAGE_SIZE) : null;
const GOAL_BYTES_PER_DAY_AT_2000 = 50 * 1000 * 1000;
const MB = 1000 * 1000;

/** On a real disk, not tmpfs: the kernel counts block writes only there. */
function benchDir(): string {
  const root = process.env.BENCH_SDCARD_DIR ?? '/var/tmp';
  return mkdtempSync(path.join(root, 'gh-bench-sdcard-'));
}

function setPageSize(file: string, bytes: number): void {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = DELETE');
    db.pragma(`page_size = ${bytes}`);
    db.exec('VACUUM');
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
}

interface Counter {
  disk: number;
  log: number;
  /** Dirty pages dropped by a truncate before they reached the disk (the decision journal's, mostly). */
  cancelled: number;
}

/** `cancelled_write_bytes` of /proc/<pid>/io: counted in write_bytes, never written to the card. */
function cancelledWriteBytes(pid: number): number {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return Number(/cancelled_write_bytes:\s+(\d+)/.exec(io)?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

function counters(hub: HubProcess): Counter {
  return {
    disk: diskWriteBytes(hub.pid) ?? Number.NaN,
    log: hub.log().bytes,
    cancelled: cancelledWriteBytes(hub.pid),
  };
}

const delta = (a: Counter, b: Counter): Counter => ({
  disk: b.disk - a.disk,
  log: b.log - a.log,
  cancelled: b.cancelled - a.cancelled,
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchSdcard(): Promise<SuiteResult> {
  const dir = benchDir();
  const dataDir = path.join(dir, 'data');
  let hub: HubProcess | null = null;
  try {
    const opened = openHubStore(dataDir);
    const { store } = opened;
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    const { secret } = store.devices.add('bench-reader', { role: 'door', doors: ['front'] });
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', 'front');
    const { cards, granted } = seedResidents(store, RESIDENTS);
    opened.close();
    if (PAGE_SIZE !== null) setPageSize(path.join(dataDir, DB_FILE_NAME), PAGE_SIZE);
    writePassphraseFile(path.join(dataDir, 'backup.passphrase'), 'bench passphrase for the sd card');

    // As installed: info-level logs, scheduled backups on (the first one is due after 5 minutes).
    hub = await startHubProcess(dataDir, { ...BUSY_CONTROLLER_BUDGET, GATEHOUSE_BACKUPS_ENABLED: 'true' });
    await sleep(5000); // start-up writes (certificates, reserve file, first checkpoint) are not the daily cost

    // The day's backup first: it also moves the scheduled one (due 5 minutes after start) a day ahead, so
    // the idle window below holds only what an idle hub writes by itself.
    const dbBytes = statSync(path.join(dataDir, DB_FILE_NAME)).size;
    const beforeBackup = counters(hub);
    const backup = await callHub(dataDir, 'POST', '/backups/run', {}, {}, 600_000);
    const backupBytes = delta(beforeBackup, counters(hub));
    await sleep(2000); // its checkpoint and the fsync after it

    const idleStart = counters(hub);
    await sleep(IDLE_SECONDS * 1000);
    const idle = delta(idleStart, counters(hub));
    const idlePerHour = ((idle.disk + idle.log) * 3600) / IDLE_SECONDS;

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, {
      username: 'bench-reader',
      password: secret,
      reconnectPeriod: 0,
    });
    let answered = 0;
    await client.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
    client.on('message', () => answered++);
    const busyStart = counters(hub);
    const started = performance.now();
    for (let i = 0; i < DECISIONS; i++) {
      const due = started + (i * 1000) / DECISIONS_PER_SECOND;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      // Nine in ten are residents' cards at their own door, one in ten an unknown or other card.
      const value = i % 10 === 9 ? cards[(i * 7919) % cards.length]! : granted[i % granted.length]!;
      client.publish(
        'gatehouse/door/front/credential',
        JSON.stringify({ id: `s${i}`, kind: 'card', value }),
        {
          qos: 1,
        },
      );
    }
    await sleep(3000); // the last group commit and any checkpoint it triggers
    const busySeconds = (performance.now() - started) / 1000;
    const busy = delta(busyStart, counters(hub));
    await client.endAsync();
    // What the decisions cost on top of the time they took.
    const idleDuringBusy = (idlePerHour * busySeconds) / 3600;
    const perDecision = Math.max(0, (busy.disk + busy.log - idleDuringBusy) / DECISIONS);

    const perDay = (eventsPerDay: number, withBackup: boolean) =>
      Math.round(idlePerHour * 24 + perDecision * eventsPerDay + (withBackup ? backupBytes.disk : 0));
    const at2000 = perDay(2000, false);
    const at20000 = perDay(20_000, false);
    const at2000WithBackup = perDay(2000, true);
    const goals = {
      'answered every decision': answered === DECISIONS,
      'bytes written per day at 2,000 events <= 50 MB (without the daily backup)':
        at2000 <= GOAL_BYTES_PER_DAY_AT_2000,
    };
    const mbPerDay = (bytes: number) => Math.round((bytes / MB) * 10) / 10;
    const idleMbPerDay = mbPerDay(idlePerHour * 24);
    const figures: Figure[] = [
      {
        name: 'SD card writes per day at 2,000 events',
        value: mbPerDay(at2000),
        unit: 'MB/day',
        baseline: { name: 'idle hub', value: idleMbPerDay },
        goal: { op: '<=', value: 50, source: '#12' },
        note: 'Bytes the hub process makes the kernel write (database, WAL, journal) plus its log lines; the daily backup not included.',
      },
      {
        name: 'SD card writes per day at 20,000 events',
        value: mbPerDay(at20000),
        unit: 'MB/day',
        baseline: { name: 'idle hub', value: idleMbPerDay },
      },
      {
        name: 'SD card writes per decision',
        value: Math.round(perDecision),
        unit: 'bytes',
        note: 'Each decision is its own durable commit, as at a real door.',
      },
      {
        name: 'SD card writes of one scheduled backup',
        value: mbPerDay(backupBytes.disk),
        unit: 'MB/day',
        note: `With a daily backup of this ${mbPerDay(dbBytes)} MB database.`,
      },
    ];
    return {
      figures,
      residents: RESIDENTS,
      pageSize: PAGE_SIZE ?? NEW_DATABASE_PAGE_SIZE,
      decisions: DECISIONS,
      decisionsPerSecond: DECISIONS_PER_SECOND,
      baselineIdle: {
        seconds: IDLE_SECONDS,
        diskBytes: idle.disk,
        logBytes: idle.log,
        cancelledBytes: idle.cancelled,
        bytesPerHour: Math.round(idlePerHour),
      },
      perDecision: {
        bytes: Math.round(perDecision),
        diskBytes: Math.round(busy.disk / DECISIONS),
        logBytes: Math.round(busy.log / DECISIONS),
        // Part of diskBytes that never reached the disk (the journal line truncated after the commit).
        cancelledBytes: Math.round(busy.cancelled / DECISIONS),
      },
      backup: {
        ok: backup.body.ok === true,
        databaseBytes: dbBytes,
        fileBytes: backup.body.bytes ?? null,
        diskBytes: backupBytes.disk,
      },
      bytesPerDay: {
        at2000: at2000,
        at20000: at20000,
        at2000WithDailyBackup: at2000WithBackup,
        at20000WithDailyBackup: perDay(20_000, true),
        mbAt2000: Math.round((at2000 / MB) * 10) / 10,
        mbAt20000: Math.round((at20000 / MB) * 10) / 10,
      },
      goals,
      met: Object.values(goals).every(Boolean),
    };
  } finally {
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchSdcard().then(
    (report) => process.stdout.write(`${JSON.stringify(report, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
