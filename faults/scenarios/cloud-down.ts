// The cloud is gone for a (simulated) day: every decision is still answered here, every event waits in
// the hub's log, and when the cloud comes back the backlog goes up in order, each event once.
import path from 'node:path';
import { rssMiB } from '../../bench/hub-process.js';
import {
  type Check,
  cardCredentialIds,
  check,
  cloudEnv,
  compareWithCloud,
  Door,
  HUB_ID,
  hubCommand,
  loggedRequestIds,
  percentile,
  readEvents,
  round1,
  seedHub,
  startCloud,
  startHub,
  waitFor,
} from '../harness.js';
import type { Scenario } from '../scenario.js';

/** 2,000 events/day is a busy apartment building's day (docs/storage.md sizes the SD card for it). */
const EVENTS_PER_DAY = 2000;
const QUICK_DECISIONS = 300;
/** Presentations in flight at once: a few doors at the morning peak. */
const IN_FLIGHT = 4;
/** One card in this many is not known to the hub (a visitor's card): it must be refused, locally. */
const UNKNOWN_EVERY = 10;
/** One staff revocation per this many decisions during the outage: admin events wait in the backlog too. */
const REVOKE_EVERY = 100;
/** RSS growth over the outage we still call flat (the log is on disk, not in the heap). */
const FLAT_RSS_GROWTH_MIB = 40;

export const cloudDown: Scenario = {
  name: 'cloud-down',
  title: 'cloud down for a day: every decision local, 0 events lost, the backlog drained in order',
  async run({ quick, log, workDir }) {
    const decisions = quick ? QUICK_DECISIONS : EVENTS_PER_DAY;
    const dataDir = path.join(workDir, 'hub');
    const seeded = seedHub(dataDir, 200);
    const cloud = await startCloud(workDir);
    const hub = await startHub(
      dataDir,
      cloudEnv(cloud, {
        minMs: 200,
        maxMs: 2000,
        keepaliveMs: 1000,
        ackTimeoutMs: 5000,
        connectTimeoutMs: 3000,
      }),
    );
    const checks: Check[] = [];
    let door: Door | null = null;
    try {
      door = await Door.connect(hub.mqttPort, seeded.secret, 'cd');
      const caughtUp = () => compareWithCloud(cloud.cloud, seeded.dbFile).missing === 0;
      // Warm up (JIT, first pages) with the cloud there, then take the baseline.
      for (let i = 0; i < 20; i++) await door.present(seeded.cards[i]!);
      await waitFor(() => cloud.cloud.isConnected(HUB_ID) && caughtUp(), 'the hub linked and caught up');
      const rssBefore = rssMiB(hub.pid) ?? 0;
      const seqBefore = readEvents(seeded.dbFile).at(-1)?.seq ?? 0;

      await cloud.cloud.stopListening();
      log(
        `cloud stopped; ${decisions} presentations (${EVENTS_PER_DAY}/day compressed), ${IN_FLIGHT} in flight`,
      );
      const credentialOf = cardCredentialIds(seeded.dbFile);
      const revoked = new Set<string>();
      const latencies: number[] = [];
      let unanswered = 0;
      let wrong = 0;
      let revocationsAcked = 0;
      let next = 0;
      const started = performance.now();
      const worker = async () => {
        while (next < decisions) {
          const i = next++;
          if (i > 0 && i % REVOKE_EVERY === 0) {
            // A lost card reported during the outage: revoked through the hub, refused at once.
            const victim = 20 + ((i / REVOKE_EVERY) % (seeded.cards.length - 20));
            const id = credentialOf.get(`r${victim}`)!;
            const res = await hubCommand(dataDir, 'POST', `/credentials/${id}/revoke`, { reason: 'lost' });
            if (res.status === 200) {
              revocationsAcked++;
              revoked.add(seeded.cards[victim]!);
            }
          }
          const unknown = i % UNKNOWN_EVERY === UNKNOWN_EVERY - 1;
          const card = unknown
            ? `0B${(0x100000 + i).toString(16).toUpperCase()}`
            : seeded.cards[20 + (i % (seeded.cards.length - 20))]!;
          const at = performance.now();
          const answer = await door!.present(card);
          if (answer === null) {
            unanswered++;
            continue;
          }
          latencies.push(performance.now() - at);
          const expected = unknown ? 'unknown_credential' : revoked.has(card) ? 'revoked' : 'granted';
          if (answer.reason !== expected) wrong++;
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      const outageSeconds = (performance.now() - started) / 1000;
      const rssAfterOutage = rssMiB(hub.pid) ?? 0;
      // A door is answered once its event is journaled; the batch reaches SQLite a moment later. Read the
      // backlog once the last answers' events are in (if they never come, the check below says so).
      await waitFor(
        () => (readEvents(seeded.dbFile).at(-1)?.seq ?? 0) - seqBefore >= latencies.length,
        'the last answers committed',
        5_000,
      ).catch(() => undefined);
      const status = await hubCommand(dataDir, 'GET', '/status');
      const backlog = (status.body.cloud as { backlog?: number } | undefined)?.backlog ?? -1;
      const seqAfterOutage = readEvents(seeded.dbFile).at(-1)?.seq ?? 0;
      log(
        `outage over in ${round1(outageSeconds)} s: ${latencies.length} answered, backlog ${backlog}, RSS ${rssBefore} → ${rssAfterOutage} MiB`,
      );

      await cloud.cloud.startListening();
      const drainStarted = performance.now();
      await waitFor(
        () => {
          const now = compareWithCloud(cloud.cloud, seeded.dbFile);
          return now.cloudStored >= seqAfterOutage && now.cloudStored === now.hubLastSeq;
        },
        'the backlog to reach the cloud',
        quick ? 30_000 : 120_000,
      );
      const drainSeconds = (performance.now() - drainStarted) / 1000;
      const rssAfterDrain = rssMiB(hub.pid) ?? 0;
      const comparison = compareWithCloud(cloud.cloud, seeded.dbFile);
      // In order: the cloud received each event no earlier than the one before it.
      const stored = cloud.cloud.store.events(HUB_ID, seqBefore, 100_000);
      let outOfOrder = 0;
      for (let i = 1; i < stored.length; i++) {
        if (stored[i]!.receivedAt < stored[i - 1]!.receivedAt) outOfOrder++;
      }
      const logged = loggedRequestIds(seeded.dbFile);
      const answeredIds = [...door.answers.keys()];
      const notLogged = answeredIds.filter((id) => !logged.has(id)).length;
      log(`cloud back: ${seqAfterOutage - seqBefore} events drained in ${round1(drainSeconds)} s`);

      checks.push(
        check(
          `every presentation answered locally while the cloud was down (${decisions})`,
          unanswered === 0 && latencies.length === decisions,
          `${unanswered} unanswered`,
        ),
        check(
          'every answer was the right one (granted, revoked, unknown card)',
          wrong === 0,
          `${wrong} wrong`,
        ),
        check(
          'the outage built a backlog the size of the events written',
          backlog === seqAfterOutage - seqBefore && backlog >= decisions,
          `backlog ${backlog}, events written ${seqAfterOutage - seqBefore}`,
        ),
        check(
          'every answered decision is in the hub’s log',
          notLogged === 0,
          `${notLogged} of ${answeredIds.length} missing`,
        ),
        check(
          '0 events lost: the cloud holds every seq of the hub’s log',
          comparison.missing === 0 && comparison.cloudStored === comparison.hubLastSeq,
          `hub ${comparison.hubLastSeq}, cloud ${comparison.cloudStored}, missing ${comparison.missing}`,
        ),
        check(
          'same events at the cloud: seqs contiguous from 1, same hashes, none twice',
          comparison.contiguous && comparison.mismatched === 0,
          `${comparison.mismatched} mismatched`,
        ),
        check('the backlog arrived in order', outOfOrder === 0, `${outOfOrder} out of order`),
        check(
          `hub memory flat over the outage (growth ≤ ${FLAT_RSS_GROWTH_MIB} MiB)`,
          rssAfterOutage - rssBefore <= FLAT_RSS_GROWTH_MIB,
          `${rssBefore} → ${rssAfterOutage} → ${rssAfterDrain} MiB`,
        ),
      );
      return {
        did: `Stopped the development cloud, presented ${decisions} cards (${EVENTS_PER_DAY}/day for ${quick ? 'part of ' : ''}a simulated day, ${IN_FLIGHT} in flight, 1 in ${UNKNOWN_EVERY} unknown) and revoked ${revocationsAcked} cards through the hub, then brought the cloud back and compared its events with the hub's log.`,
        measured: {
          decisions,
          answered: latencies.length,
          unanswered,
          revocationsAcknowledged: revocationsAcked,
          decisionP50Ms: round1(percentile(latencies, 50)),
          decisionP99Ms: round1(percentile(latencies, 99)),
          outageSeconds: round1(outageSeconds),
          backlogEvents: backlog,
          drainSeconds: round1(drainSeconds),
          eventsAtCloud: comparison.cloudStored,
          lostEvents: comparison.missing,
          duplicatesIgnoredAtCloud: cloud.cloud.duplicatesIgnored,
          rssBeforeMiB: rssBefore,
          rssAfterOutageMiB: rssAfterOutage,
          rssAfterDrainMiB: rssAfterDrain,
        },
        checks,
      };
    } finally {
      await door?.close();
      await hub.stop();
      await cloud.cloud.stop();
    }
  },
};
