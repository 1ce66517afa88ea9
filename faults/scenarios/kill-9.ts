// `kill -9` of the hub at a random moment while doors decide, staff change cards (through the hub's
// control socket and with the `gatehouse` CLI) and the cloud drains a backlog. After each kill: everything
// the hub answered or acknowledged is in the database, the file is sound, the chain is intact, and the
// card revoked just before the kill is refused at the first presentation after the restart.
import path from 'node:path';
import type { HubProcess } from '../../bench/hub-process.js';
import {
  between,
  type Check,
  cardCredentialIds,
  check,
  cloudEnv,
  compareWithCloud,
  credentialIds,
  Door,
  gatehouseCli,
  HUB_ID,
  hubCommand,
  integrityCheck,
  lastSeq,
  loggedRequestIds,
  revokedCredentialIds,
  round1,
  seedHub,
  sleep,
  startCloud,
  startHub,
  verifyChain,
  verifyChainHere,
  waitFor,
} from '../harness.js';
import type { Scenario } from '../scenario.js';

const RESIDENTS = 400;
/** Cards that stay valid at the least (revocations and additions balance over the rounds). */
const MIN_ACTIVE = 100;
/** Presentations in flight while the kill comes. */
const IN_FLIGHT = 3;

interface Card {
  personId: string;
  card: string;
  credentialId: string;
}

interface RoundAcks {
  /** Decisions the door was given, by request id. */
  answered: string[];
  /** Revocations the hub or the CLI acknowledged. */
  revoked: string[];
  /** Cards the hub acknowledged adding. */
  added: string[];
  /** The card revoked just before the kill. */
  victim: Card | null;
}

export const kill9: Scenario = {
  name: 'kill-9',
  title: 'kill -9 at random moments: no answered decision or acknowledged change lost, file and chain sound',
  async run({ quick, log, workDir }) {
    const rounds = quick ? 8 : 100;
    const dataDir = path.join(workDir, 'hub');
    const seeded = seedHub(dataDir, RESIDENTS);
    const byPerson = cardCredentialIds(seeded.dbFile);
    const active: Card[] = seeded.cards.map((card, i) => ({
      personId: `r${i}`,
      card,
      credentialId: byPerson.get(`r${i}`)!,
    }));
    const cloud = await startCloud(workDir);
    const env = cloudEnv(cloud, {
      minMs: 100,
      maxMs: 1000,
      keepaliveMs: 1000,
      ackTimeoutMs: 5000,
      connectTimeoutMs: 3000,
    });
    const takeActive = (): Card => active.splice(between(0, active.length - 1), 1)[0]!;

    const totals = {
      answered: 0,
      answeredMissing: 0,
      revoked: 0,
      revokedMissing: 0,
      added: 0,
      addedMissing: 0,
      viaCli: 0,
      victimsDenied: 0,
      integrityFailures: 0,
      chainFailures: 0,
      killsDuringDrain: 0,
      restartSeconds: [] as number[],
    };
    const failures: string[] = [];
    let added = 0;
    let previous: RoundAcks | null = null;

    /** After a restart: what the last round was told must be in the database. */
    const verifyRound = async (acks: RoundAcks, door: Door, round: number) => {
      if (acks.victim) {
        const first = await door.present(acks.victim.card, 15_000, `victim-${round}`);
        if (first?.granted === false && first.reason === 'revoked') totals.victimsDenied++;
        else failures.push(`round ${round}: revoked card answered ${first ? first.reason : 'nothing'}`);
      }
      const logged = loggedRequestIds(seeded.dbFile);
      const revoked = revokedCredentialIds(seeded.dbFile);
      const present = credentialIds(seeded.dbFile);
      const lost = {
        answered: acks.answered.filter((id) => !logged.has(id)).length,
        revoked: acks.revoked.filter((id) => !revoked.has(id)).length,
        added: acks.added.filter((id) => !present.has(id)).length,
      };
      totals.answered += acks.answered.length;
      totals.answeredMissing += lost.answered;
      totals.revoked += acks.revoked.length;
      totals.revokedMissing += lost.revoked;
      totals.added += acks.added.length;
      totals.addedMissing += lost.added;
      if (lost.answered + lost.revoked + lost.added > 0)
        failures.push(`round ${round}: lost ${JSON.stringify(lost)}`);
      // Every round the CLI's own check in this process; the last round through the CLI itself.
      const chain = round === rounds ? await verifyChain(dataDir) : verifyChainHere(dataDir);
      if (!chain.ok) {
        totals.chainFailures++;
        failures.push(`round ${round}: events verify ${chain.detail}`);
      }
    };

    let live: HubProcess | null = null;
    try {
      for (let round = 1; round <= rounds + 1; round++) {
        const startedAt = performance.now();
        const hub = await startHub(dataDir, env);
        live = hub;
        if (round > 1) totals.restartSeconds.push((performance.now() - startedAt) / 1000);
        const door = await Door.connect(hub.mqttPort, seeded.secret, `k${round}`);
        if (previous) await verifyRound(previous, door, round - 1);
        if (round > rounds) {
          // The last restart: let the cloud catch up, then stop cleanly.
          if (!cloud.cloud.listening) await cloud.cloud.startListening();
          // A hub that lost events it had sent never catches up (the cloud refuses the new hashes): the
          // comparison below then fails, rather than this wait.
          await waitFor(
            () => {
              const now = compareWithCloud(cloud.cloud, seeded.dbFile);
              return now.missing === 0 && now.cloudStored === now.hubLastSeq;
            },
            'the cloud to catch up after the last restart',
            60_000,
          ).catch(() => log('the cloud did not catch up within 60 s'));
          await door.close();
          await hub.stop();
          break;
        }

        // Half the rounds build a backlog and bring the cloud back at a random moment: the kill may land
        // in the middle of a drain.
        const acks: RoundAcks = { answered: [], revoked: [], added: [], victim: null };
        if (round % 2 === 0) await cloud.cloud.stopListening();
        else if (!cloud.cloud.listening) await cloud.cloud.startListening();
        let running = true;
        const deciding = async () => {
          while (running) {
            const card = active[between(0, active.length - 1)]!.card;
            const answer = await door.present(card, 5000);
            if (answer) acks.answered.push(answer.id);
          }
        };
        const administering = async () => {
          while (running) {
            try {
              // Revoke or add at random, keeping enough valid cards to present.
              if (Math.random() < 0.5 && active.length > MIN_ACTIVE) {
                const card = takeActive();
                const res = await hubCommand(dataDir, 'POST', `/credentials/${card.credentialId}/revoke`, {
                  reason: 'kill-9',
                });
                if (res.status === 200) acks.revoked.push(card.credentialId);
              } else {
                const n = ++added;
                const personId = `k${n}`;
                const person = await hubCommand(dataDir, 'POST', '/people', {
                  id: personId,
                  name: `Added ${n}`,
                  kind: 'resident',
                });
                if (person.status !== 201) continue;
                const card = (0x0a000000 + n).toString(16).toUpperCase();
                const res = await hubCommand(dataDir, 'POST', '/credentials', { personId, card });
                const credential = res.body.credential as { id?: string } | undefined;
                if (res.status === 201 && credential?.id) {
                  acks.added.push(credential.id);
                  active.push({ personId, card, credentialId: credential.id });
                }
              }
            } catch {
              // the hub is gone: nothing was acknowledged
            }
            await sleep(between(5, 40));
          }
        };
        const workers = [...Array.from({ length: IN_FLIGHT }, deciding), administering()];
        const restartCloudAt = between(100, quick ? 1200 : 2500);
        const cloudBack =
          round % 2 === 0
            ? sleep(restartCloudAt).then(() => cloud.cloud.startListening())
            : Promise.resolve();
        await sleep(between(200, quick ? 1500 : 3000));
        // A card revoked just before the kill: through the control socket, or with the CLI every other round.
        const victim = takeActive();
        const viaCli = round % 2 === 1;
        const ok = viaCli
          ? (await gatehouseCli(dataDir, ['credential', 'revoke', victim.credentialId])).code === 0
          : (await hubCommand(dataDir, 'POST', `/credentials/${victim.credentialId}/revoke`, {})).status ===
            200;
        if (ok) {
          acks.victim = victim;
          acks.revoked.push(victim.credentialId);
          if (viaCli) totals.viaCli++;
        }
        if (cloud.cloud.listening && cloud.cloud.store.storedSeq(HUB_ID) < lastSeq(seeded.dbFile))
          totals.killsDuringDrain++;
        hub.child.kill('SIGKILL');
        await hub.exited;
        running = false;
        door.abandonAll();
        await Promise.all(workers);
        await cloudBack;
        await door.close();
        const integrity = integrityCheck(seeded.dbFile);
        if (integrity !== 'ok') {
          totals.integrityFailures++;
          failures.push(`round ${round}: integrity_check ${integrity.slice(0, 200)}`);
        }
        log(
          `kill ${round}/${rounds}: ${acks.answered.length} answers, ${acks.revoked.length} revocations, ${acks.added.length} cards added acknowledged before the kill`,
        );
        previous = acks;
      }
    } finally {
      if (live && !live.exit()) await live.stop();
    }
    const comparison = compareWithCloud(cloud.cloud, seeded.dbFile);
    const duplicates = cloud.cloud.duplicatesIgnored;
    await cloud.cloud.stop();

    const checks: Check[] = [
      check(
        `${rounds} kills, each followed by a restart that answered the door`,
        totals.restartSeconds.length === rounds,
      ),
      check(
        '0 answered decisions lost',
        totals.answeredMissing === 0 && totals.answered > 0,
        `${totals.answered} answered, ${totals.answeredMissing} missing`,
      ),
      check(
        '0 acknowledged revocations lost',
        totals.revokedMissing === 0 && totals.revoked > 0,
        `${totals.revoked} acknowledged (${totals.viaCli} by the CLI), ${totals.revokedMissing} missing`,
      ),
      check(
        '0 acknowledged new cards lost',
        totals.addedMissing === 0,
        `${totals.added} acknowledged, ${totals.addedMissing} missing`,
      ),
      check(
        'the card revoked just before each kill was refused at the first presentation after the restart',
        totals.victimsDenied === rounds,
        `${totals.victimsDenied}/${rounds}`,
      ),
      check(
        'PRAGMA integrity_check ok after every kill',
        totals.integrityFailures === 0,
        `${totals.integrityFailures} failures`,
      ),
      check(
        '`gatehouse events verify` intact after every restart',
        totals.chainFailures === 0,
        `${totals.chainFailures} failures`,
      ),
      check(
        'the cloud holds the whole log once: contiguous, same hashes, nothing missing',
        comparison.missing === 0 && comparison.contiguous && comparison.mismatched === 0,
        `hub ${comparison.hubLastSeq}, cloud ${comparison.cloudStored}, ${duplicates} resent events ignored`,
      ),
    ];
    if (failures.length > 0) log(`failures: ${failures.slice(0, 5).join('; ')}`);
    const restarts = [...totals.restartSeconds].sort((a, b) => a - b);
    return {
      did: `Killed the hub with SIGKILL ${rounds} times, each at a random moment while ${IN_FLIGHT} presentations were in flight, staff revoked and added cards through the hub's control socket, and (every other round) the development cloud came back to drain a backlog; the last change before each kill revoked a card (through the CLI every other round). After each kill: PRAGMA integrity_check, a restart, the revoked card presented first, every acknowledged answer and change looked up in the database, \`gatehouse events verify\`.`,
      measured: {
        kills: rounds,
        killsDuringCloudDrain: totals.killsDuringDrain,
        decisionsAnswered: totals.answered,
        decisionsLost: totals.answeredMissing,
        revocationsAcknowledged: totals.revoked,
        revocationsByCli: totals.viaCli,
        revocationsLost: totals.revokedMissing,
        cardsAddedAcknowledged: totals.added,
        cardsAddedLost: totals.addedMissing,
        revokedCardDeniedAfterRestart: `${totals.victimsDenied}/${rounds}`,
        integrityFailures: totals.integrityFailures,
        chainFailures: totals.chainFailures,
        restartMedianSeconds: round1(restarts[Math.floor(restarts.length / 2)] ?? 0),
        restartMaxSeconds: round1(restarts.at(-1) ?? 0),
        eventsAtCloud: comparison.cloudStored,
        resentEventsIgnoredAtCloud: duplicates,
      },
      checks,
    };
  },
};
