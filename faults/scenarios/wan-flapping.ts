// The building's internet link comes and goes: a TCP proxy between hub and cloud is cut (reset, or a
// silent dead line) and restored every few seconds while doors keep deciding and the cloud keeps sending
// changes. Measured at the proxy: when the hub dials, against its own back-off (hub/cloud/backoff.ts).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { RssSampler } from '../../bench/hub-process.js';
import {
  between,
  type Check,
  check,
  cloudEnv,
  compareWithCloud,
  credentialIds,
  Door,
  HUB_ID,
  type LinkTimings,
  type ProxyConnection,
  percentile,
  round1,
  seedHub,
  sleep,
  startCloud,
  startHub,
  WanProxy,
  waitFor,
} from '../harness.js';
import type { Scenario } from '../scenario.js';

/** hub/cloud/mirror.ts: a link up this long resets the back-off to its first step. */
const STABLE_LINK_MS = 30_000;
/** A timer fires a little late, never early; the proxy sees a close a few ms after the hub decided. */
const EARLY_TOLERANCE_MS = 100;
/** How much later than its back-off a dial may come on a loaded machine (event loop, TLS setup). */
const LATE_TOLERANCE_MS = 2500;
const FLAT_RSS_GROWTH_MIB = 40;

interface Plan {
  seconds: number;
  /** Each up and each down period lasts a random time in this range. */
  periodMs: [number, number];
  decisionsPerSecond: number;
  cloudChangeEveryMs: number;
  timings: LinkTimings;
}

const QUICK: Plan = {
  seconds: 40,
  periodMs: [1000, 4000],
  decisionsPerSecond: 20,
  cloudChangeEveryMs: 2000,
  // Keepalive 2 s: on a machine loaded many times over, a shorter one makes the hub drop healthy links itself.
  timings: { minMs: 250, maxMs: 4000, keepaliveMs: 2000, ackTimeoutMs: 5000, connectTimeoutMs: 3000 },
};

const FULL: Plan = {
  seconds: 600,
  periodMs: [5000, 60_000],
  decisionsPerSecond: 5,
  cloudChangeEveryMs: 10_000,
  timings: { minMs: 1000, maxMs: 15_000, keepaliveMs: 2000, ackTimeoutMs: 10_000, connectTimeoutMs: 5000 },
};

/** The delay range backoffDelay(attempt) draws from (hub/cloud/backoff.ts). */
function delayRange(attempt: number, { minMs, maxMs }: LinkTimings): [number, number] {
  const low = Math.min(maxMs / 2, minMs * 2 ** Math.min(attempt, 40));
  const high = Math.min(maxMs, low * 2);
  return [Math.max(minMs, low), Math.max(minMs, high)];
}

export interface BackoffReport {
  /** Dials of the hub's cloud link (connections that are not a gRPC library retry). */
  dials: number;
  gapsChecked: number;
  tooSoon: number;
  tooLate: number;
  /** Extra connections grpc-js makes by itself after a refused one (its own reconnect, see checkBackoff). */
  libraryRetries: number;
  shortestGapMs: number;
  longestGapMs: number;
  /** Most connections the hub held open at once (an abandoned dead link stays open until gRPC gives up). */
  mostOpenAtOnce: number;
  /** The worst few, for the report. */
  examples: string[];
}

type Cut = { at: number; state: 'up' | 'reset' | 'blackhole' };

/**
 * Replays the hub's back-off rule over the connections the proxy saw. After each dial ends the hub waits
 * backoffDelay(k) and k grows by one, except after a link that stayed up STABLE_LINK_MS (k restarts at 0);
 * near that edge both possibilities stay open. When the hub ended a dial itself (a silent line: its
 * keepalive or connect timeout) the proxy does not see the end, so the gap is measured from the dial's
 * start (a weaker lower bound) and the upper bound from the latest moment the hub must have given up.
 * grpc-js retries a refused connection once by itself after its initial reconnect back-off (set to
 * minMs by the hub); such a retry is counted apart, and must not come sooner than 0.8 × minMs.
 */
export function checkBackoff(
  connections: ProxyConnection[],
  cuts: Cut[],
  timings: LinkTimings,
): BackoffReport {
  const report: BackoffReport = {
    dials: 0,
    gapsChecked: 0,
    tooSoon: 0,
    tooLate: 0,
    libraryRetries: 0,
    shortestGapMs: Number.POSITIVE_INFINITY,
    longestGapMs: 0,
    mostOpenAtOnce: 0,
    examples: [],
  };
  const refused = (c: ProxyConnection) =>
    !c.forwarded && c.closedAt !== null && c.closedAt - c.openedAt < 100;
  const stateAt = (t: number) => cuts.filter((c) => c.at <= t).at(-1)?.state ?? 'up';
  const cutsDuring = (from: number, to: number) => cuts.filter((c) => c.at >= from && c.at < to);
  const detectMs = 4 * timings.keepaliveMs;
  let attempts = new Set<number>([0]);
  let previous: ProxyConnection | null = null;
  for (const conn of connections) {
    const open = connections.filter(
      (c) => c.openedAt <= conn.openedAt && (c.closedAt === null || c.closedAt > conn.openedAt),
    ).length;
    report.mostOpenAtOnce = Math.max(report.mostOpenAtOnce, open);
    if (previous === null) {
      previous = conn; // the first dial comes after a random part of minMs
      report.dials++;
      continue;
    }
    const prev: ProxyConnection = previous;
    const sinceOpen = conn.openedAt - prev.openedAt;
    // When did the hub end the previous dial? Known when the proxy ended it while the hub still used it.
    const prevEnd = prev.closedAt ?? Number.POSITIVE_INFINITY;
    const silenced = cutsDuring(prev.openedAt, Math.min(prevEnd, conn.openedAt)).some(
      (c) => c.state === 'blackhole',
    );
    const endKnown =
      prev.closedAt !== null &&
      prev.closedAt <= conn.openedAt &&
      (refused(prev) || (prev.forwarded && !silenced));
    let latestEnd: number | null = null;
    if (endKnown) latestEnd = prev.closedAt!;
    else if (stateAt(prev.openedAt) === 'blackhole')
      latestEnd = prev.openedAt + timings.connectTimeoutMs + 200;
    else if (silenced) {
      const cut = cutsDuring(prev.openedAt, conn.openedAt).find((c) => c.state === 'blackhole')!;
      latestEnd = cut.at + detectMs;
    }
    // The step the hub used for this delay: k, or 0 when the link that just ended had stayed up long enough.
    const lived = (latestEnd ?? conn.openedAt) - prev.openedAt;
    const steps = new Set<number>();
    for (const k of attempts) {
      if (!prev.forwarded || lived < STABLE_LINK_MS + 1000) steps.add(k);
      if (prev.forwarded && lived >= STABLE_LINK_MS - 1000) steps.add(0);
    }
    const ranges = [...steps].map((k) => delayRange(k, timings));
    const low = Math.min(...ranges.map((r) => r[0]));
    const high = Math.max(...ranges.map((r) => r[1]));
    if (refused(prev) && sinceOpen < low - EARLY_TOLERANCE_MS && report.libraryRetries < report.dials) {
      report.libraryRetries++;
      if (sinceOpen < 0.8 * timings.minMs - EARLY_TOLERANCE_MS) {
        report.tooSoon++;
        report.examples.push(`library retry after ${Math.round(sinceOpen)} ms < 0.8 × ${timings.minMs} ms`);
      }
      continue; // the dial it belongs to is still `previous`
    }
    const earliestEnd = endKnown ? prev.closedAt! : prev.openedAt;
    const gap = conn.openedAt - earliestEnd;
    report.gapsChecked++;
    report.dials++;
    report.shortestGapMs = Math.min(report.shortestGapMs, gap);
    if (gap < low - EARLY_TOLERANCE_MS) {
      report.tooSoon++;
      report.examples.push(`dial ${report.dials}: ${Math.round(gap)} ms < ${low} ms`);
    }
    if (latestEnd !== null) {
      const lateGap = conn.openedAt - latestEnd;
      report.longestGapMs = Math.max(report.longestGapMs, endKnown ? lateGap : 0);
      if (lateGap > high + LATE_TOLERANCE_MS) {
        report.tooLate++;
        report.examples.push(`dial ${report.dials}: ${Math.round(lateGap)} ms > ${high} ms`);
      }
    }
    attempts = new Set([...steps].map((k) => k + 1));
    previous = conn;
  }
  if (report.gapsChecked === 0) report.shortestGapMs = 0;
  report.examples = report.examples.slice(0, 5);
  return report;
}

export const wanFlapping: Scenario = {
  name: 'wan-flapping',
  title: 'WAN flapping: back-off respected, nothing lost or duplicated at the cloud, memory flat',
  async run({ quick, log, workDir }) {
    const plan = quick ? QUICK : FULL;
    const dataDir = path.join(workDir, 'hub');
    const seeded = seedHub(dataDir, 200);
    const cloud = await startCloud(workDir);
    const proxy = new WanProxy(cloud.port);
    await proxy.listen();
    const hub = await startHub(dataDir, cloudEnv(cloud, plan.timings, `127.0.0.1:${proxy.port}`));
    const rss = new RssSampler(hub.pid, 500);
    const rssStart = rss.lastMiB;
    const checks: Check[] = [];
    let door: Door | null = null;
    try {
      door = await Door.connect(hub.mqttPort, seeded.secret, 'wan');
      await waitFor(() => cloud.cloud.isConnected(HUB_ID), 'the first link');
      log(
        `flapping for ${plan.seconds} s: up/down every ${plan.periodMs[0] / 1000}–${plan.periodMs[1] / 1000} s, ${plan.decisionsPerSecond} decisions/s, back-off ${plan.timings.minMs}–${plan.timings.maxMs} ms`,
      );
      const until = performance.now() + plan.seconds * 1000;
      let running = true;
      let presented = 0;
      let unanswered = 0;
      const latencies: number[] = [];
      const deciding = (async () => {
        while (running) {
          const card = seeded.cards[presented % seeded.cards.length]!;
          presented++;
          const at = performance.now();
          const answer = await door!.present(card);
          if (answer?.granted) latencies.push(performance.now() - at);
          else unanswered++;
          await sleep(1000 / plan.decisionsPerSecond);
        }
      })();
      let cloudChanges = 0;
      const changing = (async () => {
        while (running) {
          // A resident added in the property manager's cloud, with a card: must reach the hub once.
          const n = ++cloudChanges;
          cloud.cloud.upsertPerson(HUB_ID, `cloud-${n}`, { name: `Cloud resident ${n}` });
          cloud.cloud.upsertCredential(HUB_ID, `cloud-card-${n}`, {
            personId: `cloud-${n}`,
            kind: 'card',
            value: (0x0c000000 + n).toString(16).toUpperCase(),
          });
          await sleep(plan.cloudChangeEveryMs);
        }
      })();
      let cuts = 0;
      const modes = { reset: 0, blackhole: 0 };
      while (performance.now() < until) {
        await sleep(between(...plan.periodMs));
        if (performance.now() >= until) break;
        const how = Math.random() < 0.5 ? 'reset' : 'blackhole';
        proxy.down(how);
        cuts++;
        modes[how]++;
        await sleep(between(...plan.periodMs));
        proxy.up();
      }
      running = false;
      await Promise.all([deciding, changing]);
      proxy.up();
      log(`${cuts} cuts (${modes.reset} reset, ${modes.blackhole} silent); waiting for the link to catch up`);
      const summary = () => cloud.cloud.hubs().find((h) => h.id === HUB_ID)!;
      await waitFor(
        () => {
          const now = compareWithCloud(cloud.cloud, seeded.dbFile);
          return (
            now.missing === 0 &&
            now.cloudStored === now.hubLastSeq &&
            summary().appliedChange === summary().latestChange
          );
        },
        'the cloud and the hub caught up',
        plan.timings.maxMs + 30_000,
      );
      rss.stop();
      const rssEnd = rss.lastMiB;
      const comparison = compareWithCloud(cloud.cloud, seeded.dbFile);
      const onHub = credentialIds(seeded.dbFile);
      const cloudCardsMissing = Array.from({ length: cloudChanges }, (_, i) => `cloud-card-${i + 1}`).filter(
        (id) => !onHub.has(id),
      ).length;
      writeFileSync(
        path.join(workDir, 'proxy.json'),
        JSON.stringify({ connections: proxy.connections, changes: proxy.changes }, null, 1),
      );
      const backoff = checkBackoff(proxy.connections, proxy.changes, plan.timings);
      const linksUp = proxy.connections.filter((c) => c.forwarded && c.bytesFromCloud > 0).length;
      log(`${proxy.connections.length} connection attempts seen at the proxy, ${linksUp} reached the cloud`);

      checks.push(
        check(
          'every presentation answered (granted) while the link flapped',
          unanswered === 0 && presented > 0,
          `${presented} presented, ${unanswered} not answered`,
        ),
        check(
          'no reconnect sooner than the back-off allows',
          backoff.tooSoon === 0 && backoff.gapsChecked > 0,
          `${backoff.dials} dials, ${backoff.libraryRetries} gRPC library retries, shortest gap ${Math.round(backoff.shortestGapMs)} ms${backoff.tooSoon ? `; ${backoff.examples.join(', ')}` : ''}`,
        ),
        check(
          `no reconnect later than the back-off allows (+${LATE_TOLERANCE_MS} ms for a loaded machine)`,
          backoff.tooLate === 0,
          `longest ${Math.round(backoff.longestGapMs)} ms${backoff.tooLate ? `; ${backoff.examples.join(', ')}` : ''}`,
        ),
        check(
          'nothing lost: the cloud holds every event of the hub’s log',
          comparison.missing === 0 && comparison.cloudStored === comparison.hubLastSeq,
          `hub ${comparison.hubLastSeq}, cloud ${comparison.cloudStored}`,
        ),
        check(
          'nothing duplicated in effect: each seq stored once, contiguous, same hash',
          comparison.contiguous && comparison.mismatched === 0,
          `${cloud.cloud.duplicatesIgnored} resent events ignored by the cloud`,
        ),
        check(
          'every change from the cloud reached the hub and was acknowledged',
          cloudCardsMissing === 0 && summary().appliedChange === summary().latestChange,
          `${cloudChanges} cards added in the cloud, ${cloudCardsMissing} missing on the hub`,
        ),
        check(
          `hub memory flat (end ≤ start + ${FLAT_RSS_GROWTH_MIB} MiB)`,
          rssEnd - rssStart <= FLAT_RSS_GROWTH_MIB,
          `start ${rssStart}, end ${rssEnd}, max ${rss.peakMiB} MiB`,
        ),
      );
      return {
        did: `Put a TCP proxy between the hub and the development cloud and cut it ${cuts} times over ${plan.seconds} s (up and down ${plan.periodMs[0] / 1000}–${plan.periodMs[1] / 1000} s each; half the cuts reset the connection, half went silent) while a door presented ${plan.decisionsPerSecond} cards/s and the cloud added a resident with a card every ${plan.cloudChangeEveryMs / 1000} s.`,
        measured: {
          seconds: plan.seconds,
          cuts,
          resetCuts: modes.reset,
          silentCuts: modes.blackhole,
          presented,
          unanswered,
          decisionP99Ms: round1(percentile(latencies, 99)),
          connectionAttempts: proxy.connections.length,
          dials: backoff.dials,
          grpcLibraryRetries: backoff.libraryRetries,
          mostConnectionsOpenAtOnce: backoff.mostOpenAtOnce,
          linksToCloud: linksUp,
          backoffMinMs: plan.timings.minMs,
          backoffMaxMs: plan.timings.maxMs,
          shortestReconnectGapMs: Math.round(backoff.shortestGapMs),
          longestReconnectGapMs: Math.round(backoff.longestGapMs),
          reconnectsTooSoon: backoff.tooSoon,
          reconnectsTooLate: backoff.tooLate,
          eventsAtCloud: comparison.cloudStored,
          lostEvents: comparison.missing,
          resentEventsIgnoredAtCloud: cloud.cloud.duplicatesIgnored,
          cloudChanges: cloudChanges * 2,
          rssStartMiB: rssStart,
          rssEndMiB: rssEnd,
          rssMaxMiB: rss.peakMiB,
        },
        checks,
      };
    } finally {
      rss.stop();
      await door?.close();
      await hub.stop();
      await proxy.close();
      await cloud.cloud.stop();
    }
  },
};
