// The core figures: the hub as `gatehouse start` in its own process on a data dir with 100,000
// credentials; cold start, idle RSS, and the decision round trip over MQTT next to a bare aedes echo
// (bench/echo-broker.ts, its own process) measured in alternating rounds of the same run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openHubStore } from '../hub/open-store.js';
import { BUSY_CONTROLLER_BUDGET, seedResidents, startHubProcess } from './hub-process.js';
import type { Figure, SuiteResult } from './report.js';
import { connect, doorDevice, echoPair, median, paced, waitForLine } from './round-trip.js';
import { BENCH_DEVICE, BENCH_DOOR, seedDoor } from './seed.js';
import { summarize } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ECHO_BROKER = path.join(here, 'echo-broker.js');

const CREDENTIALS = Number(process.env.BENCH_CREDENTIALS ?? 100_000);
const RATE = 200; // presentations per second
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM_UP = 200;

function log(message: string): void {
  process.stderr.write(`[bench:core] ${message}\n`);
}

function statusMiB(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Fills a fresh data dir with people and cards through the store (admin events included). */
function seed(dataDir: string): { secret: string; cards: string[] } {
  const opened = openHubStore(dataDir);
  try {
    const secret = seedDoor(opened);
    return { secret, cards: seedResidents(opened.store, CREDENTIALS).cards };
  } finally {
    opened.close();
  }
}

/** Spawn → first CONNACK ("accepting connections"), with the deployed node flags. */
export async function coldStart(dataDir: string, env: NodeJS.ProcessEnv = {}) {
  const started = performance.now();
  const hub = await startHubProcess(dataDir, env);
  const probe = await connect(hub.mqttPort, 'x', 'y').catch(() => null);
  const ms = Math.round(performance.now() - started);
  await probe?.endAsync();
  return { hub, coldStartMs: ms };
}

/** The bare aedes echo in its own process, measured `count` at RATE/s after a warm-up. */
async function echoRound(count: number) {
  const child = spawn(process.execPath, [ECHO_BROKER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const { port } = (await waitForLine(child, (e) => typeof e.port === 'number')) as { port: number };
    const pair = await echoPair(port);
    await paced(pair.requester, RATE, WARM_UP);
    const result = await paced(pair.requester, RATE, count);
    await pair.close();
    return result;
  } finally {
    child.kill('SIGTERM');
  }
}

export async function benchCore(): Promise<SuiteResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-bench-'));
  try {
    log(`seeding ${CREDENTIALS} credentials`);
    const t0 = performance.now();
    const { secret, cards } = seed(dataDir);
    const seedSeconds = Math.round((performance.now() - t0) / 100) / 10;

    // First boot generates the hub CA and certificates; measure an ordinary boot after it.
    log('first boot (certificates)');
    await (await startHubProcess(dataDir)).stop();
    log('cold start');
    // One bench device carries 200/s, far over a reader's budget: this measures the decision path,
    // not admission (bench/isolation.ts measures that with the default budgets).
    const { hub, coldStartMs } = await coldStart(dataDir, BUSY_CONTROLLER_BUDGET);
    try {
      await new Promise((r) => setTimeout(r, 3000));
      const idleRssMiB = statusMiB(hub.pid, 'VmRSS');
      // Anonymous memory is the hub's own; file-backed pages (node binary, native modules) are shared and reclaimable.
      const idleRssBreakdownMiB = {
        anon: statusMiB(hub.pid, 'RssAnon'),
        file: statusMiB(hub.pid, 'RssFile'),
      };

      const count = RATE * SECONDS;
      // Alternate baseline and hub rounds and report the medians: on a shared machine one round can be
      // off by a factor of two in either direction.
      const rounds: Array<{
        baseline: ReturnType<typeof summarize>;
        decision: ReturnType<typeof summarize>;
      }> = [];
      let lost = 0;
      let granted = 0;
      const device = await doorDevice(
        hub.mqttPort,
        { username: BENCH_DEVICE, secret, door: BENCH_DOOR },
        () => (Math.random() < 0.9 ? cards[Math.floor(Math.random() * cards.length)]! : 'DEADBEEF00'),
      );
      await paced(device.requester, RATE, WARM_UP);
      for (let round = 1; round <= ROUNDS; round++) {
        log(`round ${round}/${ROUNDS}: baseline (bare aedes publish→echo), ${count} at ${RATE}/s`);
        const baseline = await echoRound(count);
        log(`round ${round}/${ROUNDS}: decision round trip over MQTT, ${count} at ${RATE}/s`);
        const before = device.granted();
        const decisions = await paced(device.requester, RATE, count);
        lost += baseline.lost + decisions.lost;
        granted += device.granted() - before;
        rounds.push({ baseline: summarize(baseline.samples), decision: summarize(decisions.samples) });
      }
      await device.close();
      const b = {
        p50: median(rounds.map((r) => r.baseline.p50)),
        p99: median(rounds.map((r) => r.baseline.p99)),
      };
      const d = {
        p50: median(rounds.map((r) => r.decision.p50)),
        p99: median(rounds.map((r) => r.decision.p99)),
      };
      const rssAfterLoadMiB = statusMiB(hub.pid, 'VmRSS');
      const figures: Figure[] = [
        {
          name: 'decision round trip p50 (MQTT, 200/s)',
          value: d.p50,
          unit: 'ms',
          baseline: { name: 'bare aedes echo p50', value: b.p50 },
          goal: { op: '<=', value: 1.5, ofBaseline: true, source: 'docs/benchmarks.md' },
          note: `${ROUNDS === 1 ? 'one round' : `median of ${ROUNDS} rounds`}, ${CREDENTIALS.toLocaleString('en-US')} credentials`,
        },
        {
          name: 'decision round trip p99 (MQTT, 200/s)',
          value: d.p99,
          unit: 'ms',
          baseline: { name: 'bare aedes echo p99', value: b.p99 },
          goal: { op: '<=', value: 5, source: 'docs/benchmarks.md' },
        },
        { name: 'decisions lost', value: lost, unit: 'count', goal: { op: '<=', value: 0 } },
        {
          name: 'cold start → accepting connections',
          value: coldStartMs,
          unit: 'ms',
          goal: { op: '<=', value: 2000, source: 'docs/benchmarks.md' },
        },
        {
          name: 'idle RSS',
          value: idleRssMiB,
          unit: 'MiB',
          goal: { op: '<=', value: 120, source: 'docs/benchmarks.md' },
          note: `of which ${idleRssBreakdownMiB.file} MiB file-backed (node binary, native modules)`,
        },
        { name: 'RSS after the load', value: rssAfterLoadMiB, unit: 'MiB' },
      ];
      return {
        figures,
        credentials: CREDENTIALS,
        ratePerSecond: RATE,
        seedSeconds,
        coldStartToAcceptingMs: coldStartMs,
        idleRssMiB,
        idleRssBreakdownMiB,
        rounds,
        baselineEchoMs: { ...b, roundsMedian: true },
        decisionRoundTripMs: { ...d, roundsMedian: true, lost, granted },
        ratioP50: Math.round((d.p50 / b.p50) * 100) / 100,
        ratioP99: Math.round((d.p99 / b.p99) * 100) / 100,
        rssAfterLoadMiB,
      };
    } finally {
      await hub.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
