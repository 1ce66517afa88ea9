// Node-RED killed, hung and flooding (docs/installer-flows.md, docs/configuration.md `nodeRed.*`): the hub
// runs as its own process with its supervised Node-RED child. A flow deployed through the hub's /flows/
// proxy floods the hub with bridge requests through the Gatehouse nodes (the hub-node-red integration
// account); then the Node-RED child is killed with SIGKILL, then stopped with SIGSTOP (hung) until the
// supervisor gives up on it, then sent SIGCONT. Throughout, two doors present granted cards and a separate
// integration unlocks a door remotely every second. Must hold: no card refused or lost, no remote unlock
// failed, the supervisor restarts Node-RED after each fault and GET /api/v1/status shows it (state,
// restarts, last exit), the flooding account is cut off by its bridge budget.
// The probe interval is shortened (1 s, 2 failures) so that a hung Node-RED is found in seconds.
import { type HubProcess, RssSampler, rssMiB, startHubProcess } from '../../bench/hub-process.js';
import {
  api,
  BridgeClient,
  check,
  grantedAnswer,
  LabDevice,
  Presenter,
  queryEvents,
  ratio,
  round,
  seedLab,
  sleep,
} from '../lab.js';
import type { Scenario, ScenarioResult } from '../scenario.js';

const DOOR_RATE = 5;
const START_TIMEOUT_MS = 120_000;
const RESTART_TIMEOUT_MS = 60_000;
const REMOTE_UNLOCK_EVERY_MS = 1000;

interface NodeRedStatus {
  state: string;
  pid: number | null;
  restarts: number;
  lastExit: { reason: string; signal: string | null } | null;
}

/** A flow that asks for the door list 20 times every 50 ms through a Gatehouse node (400 requests/s). */
function floodFlow(): unknown[] {
  const z = 'faults-tab';
  return [
    { id: z, type: 'tab', label: 'Fault suite flood' },
    { id: 'faults-hub', type: 'gatehouse-config', name: 'Gatehouse hub' },
    {
      id: 'faults-tick',
      type: 'inject',
      z,
      props: [{ p: 'payload' }],
      repeat: '0.05',
      once: true,
      onceDelay: 0.1,
      payload: '',
      payloadType: 'date',
      wires: [['faults-loop']],
    },
    {
      id: 'faults-loop',
      type: 'function',
      z,
      name: 'tight loop',
      func: 'for (let i = 0; i < 20; i++) node.send({ payload: i }); return null;',
      outputs: 1,
      wires: [['faults-lookup']],
    },
    {
      id: 'faults-lookup',
      type: 'gatehouse-lookup',
      z,
      name: 'doors',
      server: 'faults-hub',
      what: 'doors',
      person: '',
      wires: [[]],
    },
  ];
}

export const nodeRed: Scenario = {
  name: 'node-red',
  title:
    'Node-RED killed, hung and flooding: no failed unlock, restarted by the supervisor, shown in the status',
  async run({ quick, log, workDir }): Promise<ScenarioResult> {
    const rounds = quick ? 1 : 3;
    const floodSeconds = quick ? 4 : 20;
    const idleSeconds = quick ? 3 : 10;
    log('seeding 2,000 residents, doors front and back, integration faults-bridge');
    const seed = await seedLab(workDir, {
      doors: ['front', 'back'],
      residents: 2000,
      integrations: ['faults-bridge', 'faults-flood'],
    });
    const hub: HubProcess = await startHubProcess(workDir, {
      GATEHOUSE_NODE_RED_ENABLED: 'true',
      GATEHOUSE_NODE_RED_PROBE_INTERVAL_SECONDS: '1',
      GATEHOUSE_NODE_RED_PROBE_FAILURES: '2',
      GATEHOUSE_NODE_RED_BACKOFF_MIN_MS: '500',
    });
    const rss = new RssSampler(hub.pid, 200);
    const presenters: Presenter[] = [];
    const devices: LabDevice[] = [];
    let bridge: BridgeClient | null = null;
    let unlocking = true;
    let unlockLoop: Promise<void> = Promise.resolve();
    const remote = { asked: 0, ok: 0, failures: [] as string[] };
    const stoppedPids: number[] = [];
    try {
      const status = async (): Promise<NodeRedStatus | null> => {
        const answer = await api(hub.httpPort, seed.adminSession, 'GET', '/api/v1/status').catch(() => null);
        return (answer?.json.nodeRed as NodeRedStatus | undefined) ?? null;
      };
      const waitFor = async (what: string, test: (s: NodeRedStatus) => boolean, ms: number) => {
        const started = Date.now();
        for (;;) {
          const s = await status();
          if (s && test(s)) return { status: s, ms: Date.now() - started };
          if (Date.now() - started > ms)
            throw new Error(`Node-RED: ${what} not seen within ${ms} ms: ${JSON.stringify(s)}`);
          await sleep(100);
        }
      };
      const started = await waitFor(
        'running',
        (s) => s.state === 'running' && s.pid !== null,
        START_TIMEOUT_MS,
      );
      log(`Node-RED running after ${started.ms} ms (pid ${started.status.pid})`);

      for (const door of ['front', 'back']) {
        const device = await LabDevice.connect(hub.mqttPort, door, seed.secrets[door]!);
        devices.push(device);
        presenters.push(new Presenter(device, 'card', seed.granted, DOOR_RATE, grantedAnswer));
      }
      bridge = await BridgeClient.connect(
        hub.mqttPort,
        'faults-bridge',
        seed.integrations['faults-bridge']!,
        true,
      );
      const floodAnswers = { n: 0 };
      // Answers to every integration share the topic: the flow's are those not sent by BridgeClient.fire.
      bridge.client.on('message', (topic, payload) => {
        if (topic !== 'gatehouse/bridge/response/door.list') return;
        const transaction = String((JSON.parse(payload.toString()) as { transaction?: unknown }).transaction);
        if (!transaction.startsWith('fire-')) floodAnswers.n++;
      });
      unlockLoop = (async () => {
        while (unlocking) {
          remote.asked++;
          const answer = await bridge!.request(
            'door.unlock',
            { id: 'back', ms: 1000, reason: 'fault suite' },
            10_000,
          );
          if (answer?.ok === true) remote.ok++;
          else remote.failures.push(JSON.stringify(answer));
          await sleep(REMOTE_UNLOCK_EVERY_MS);
        }
      })();
      const phase = (name: string) => {
        for (const p of presenters) p.phase(name);
      };
      phase('idle');
      log(
        `idle: cards at front and back ${DOOR_RATE}/s each, a remote unlock of back every second, for ${idleSeconds} s`,
      );
      await sleep(idleSeconds * 1000);

      phase('flood');
      log(
        `flood: a deployed flow asks for the door list 400 times a second, and integration faults-flood 10,000 times a second, for ${floodSeconds} s`,
      );
      const deployed = await api(
        hub.httpPort,
        seed.adminSession,
        'POST',
        '/flows/flows',
        { flows: floodFlow() },
        {
          'node-red-api-version': 'v2',
          'node-red-deployment-type': 'full',
        },
      );
      const floodStartAnswers = floodAnswers.n;
      // An integration flooding the hub directly: the Gatehouse nodes hold their own account below the
      // hub's budget, so the hub's cut-off (mqtt.limits.bridgeRequestsPerSecond) is shown with this one.
      const flooder = await BridgeClient.connect(
        hub.mqttPort,
        'faults-flood',
        seed.integrations['faults-flood']!,
      );
      let flooded = 0;
      const floodUntil = Date.now() + floodSeconds * 1000;
      while (Date.now() < floodUntil) {
        if (flooder.client.connected) {
          for (let i = 0; i < 100; i++) flooder.fire('door.list', {});
          flooded += 100;
        }
        await sleep(10);
      }
      const flooderCutOff = flooder.disconnects;
      await flooder.close();
      const floodAnswered = floodAnswers.n - floodStartAnswers;
      const rejected = (device: string) =>
        queryEvents<{ n: number }>(
          workDir,
          "SELECT count(*) AS n FROM events WHERE type = 'device.rejected' AND json_extract(data, '$.device') = ?",
          device,
        )[0]!.n;
      const nodeRedAccountRejected = rejected('hub-node-red');
      const flooderRejected = rejected('faults-flood');

      const kills: Array<{ pid: number; restartMs: number }> = [];
      const hangs: Array<{ pid: number; restartMs: number; reason: string }> = [];
      for (let r = 0; r < rounds; r++) {
        phase('killed');
        const before = (await waitFor('running', (s) => s.state === 'running', RESTART_TIMEOUT_MS)).status;
        log(`kill -9 Node-RED (pid ${before.pid})`);
        process.kill(before.pid!, 'SIGKILL');
        const after = await waitFor(
          'restart after kill -9',
          (s) => s.state === 'running' && s.pid !== before.pid && s.restarts > before.restarts,
          RESTART_TIMEOUT_MS,
        );
        kills.push({ pid: before.pid!, restartMs: after.ms });

        phase('hung');
        log(`SIGSTOP Node-RED (pid ${after.status.pid}) until the supervisor replaces it, then SIGCONT`);
        const hungPid = after.status.pid!;
        process.kill(hungPid, 'SIGSTOP');
        stoppedPids.push(hungPid);
        const replaced = await waitFor(
          'restart of a hung Node-RED',
          (s) => s.state === 'running' && s.pid !== hungPid && s.restarts > after.status.restarts,
          RESTART_TIMEOUT_MS,
        );
        try {
          process.kill(hungPid, 'SIGCONT');
        } catch {
          // already gone: the supervisor killed it
        }
        hangs.push({
          pid: hungPid,
          restartMs: replaced.ms,
          reason: replaced.status.lastExit?.reason ?? 'none',
        });
      }
      phase('after');
      await sleep(2000);
      const final = await status();
      unlocking = false;
      await unlockLoop;
      for (const p of presenters) await p.stop();
      const totals = presenters.map((p) => p.total());
      const presented = totals.reduce((n, t) => n + t.presented, 0);
      const correct = totals.reduce((n, t) => n + t.correct, 0);
      const skipped = totals.reduce((n, t) => n + t.skipped, 0);
      const idle = Math.max(...presenters.map((p) => p.figures('idle').p99WithLostMs));
      const byPhase = (name: string) => Math.max(...presenters.map((p) => p.figures(name).p99WithLostMs));
      const hungGone = stoppedPids.every((pid) => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
      const exit = hub.exit();
      const measured: ScenarioResult['measured'] = {
        nodeRedStartMs: started.ms,
        cardsPresented: presented,
        cardsGranted: correct,
        cardsSlotsSkipped: skipped,
        remoteUnlocksAsked: remote.asked,
        remoteUnlocksOk: remote.ok,
        floodDeployStatus: deployed.status,
        floodAnsweredByHub: floodAnswered,
        floodSeconds,
        nodeRedAccountRejectedEvents: nodeRedAccountRejected,
        directFloodSent: flooded,
        directFloodDisconnects: flooderCutOff,
        directFloodRejectedEvents: flooderRejected,
        restartAfterKillMs: kills.map((k) => k.restartMs).join(','),
        restartAfterHangMs: hangs.map((h) => h.restartMs).join(','),
        hangExitReasons: hangs.map((h) => h.reason).join(','),
        cardsP99IdleMs: idle,
        cardsP99FloodMs: byPhase('flood'),
        cardsP99KilledMs: byPhase('killed'),
        cardsP99HungMs: byPhase('hung'),
        cardsP99RatioWorstToIdle: ratio(Math.max(byPhase('flood'), byPhase('killed'), byPhase('hung')), idle),
        finalStatus: JSON.stringify({
          state: final?.state,
          restarts: final?.restarts,
          lastExit: final?.lastExit,
        }),
        hubRssPeakMiB: rss.peakMiB,
        hubRssEndMiB: rssMiB(hub.pid) ?? 'gone',
      };
      // The Gatehouse nodes keep their account at 10 requests/s, burst 50 (half the hub's budget).
      const floodBound = 50 + 10 * (floodSeconds + 1);
      const checks = [
        check(
          'every card presented at the two doors was granted (none refused, rate_limited or lost)',
          presented > 0 && correct === presented,
          `${correct}/${presented}; ${JSON.stringify(presenters.map((p) => ['flood', 'killed', 'hung'].map((n) => p.figures(n).byReason)))}`,
        ),
        check(
          'every remote unlock asked by another integration succeeded',
          remote.asked > 0 && remote.ok === remote.asked,
          `${remote.ok}/${remote.asked}${remote.failures.length ? `: ${remote.failures.slice(0, 3).join('; ')}` : ''}`,
        ),
        check(
          'the flood flow was deployed through /flows/',
          deployed.status === 200,
          `HTTP ${deployed.status}`,
        ),
        check(
          "the flow's flood reached the hub only within the Gatehouse nodes' own budget (10/s, burst 50)",
          floodAnswered > 0 && floodAnswered <= floodBound,
          `${floodAnswered} of ~${400 * floodSeconds} requests answered (bound ${floodBound}), ${nodeRedAccountRejected} device.rejected events for hub-node-red`,
        ),
        check(
          'an integration flooding the hub directly is disconnected by its bridge budget and audited',
          flooderCutOff >= 1 && flooderRejected >= 1,
          `${flooded} sent, ${flooderCutOff} disconnects, ${flooderRejected} device.rejected events`,
        ),
        check(
          'the supervisor restarted Node-RED after each kill -9',
          kills.length === rounds,
          `${kills.length} restarts, after ${kills.map((k) => `${k.restartMs} ms`).join(', ')}`,
        ),
        check(
          'the supervisor replaced a hung (SIGSTOPped) Node-RED as unresponsive, and the stopped process is gone',
          hangs.length === rounds && hangs.every((h) => h.reason === 'unresponsive') && hungGone,
          `${hangs.map((h) => `${h.reason} after ${h.restartMs} ms`).join(', ')}; stopped processes gone: ${hungGone}`,
        ),
        check(
          'GET /api/v1/status shows Node-RED running with the restarts counted',
          final?.state === 'running' && (final?.restarts ?? 0) >= 2 * rounds,
          `state ${final?.state}, restarts ${final?.restarts}`,
        ),
        check('the hub did not crash', exit === null && hub.log().fatalLines === 0),
      ];
      return {
        did: `With Node-RED supervised by a hub process: deployed a flow flooding bridge requests (${floodSeconds} s), killed Node-RED with SIGKILL and hung it with SIGSTOP (then SIGCONT) ${rounds} time(s) each, while two doors presented cards ${DOOR_RATE}/s each and another integration unlocked a door every second.`,
        measured: { ...measured, cardsP99IdleMs: round(idle, 2) },
        checks,
      };
    } finally {
      unlocking = false;
      await unlockLoop.catch(() => undefined);
      for (const p of presenters) await p.stop().catch(() => undefined);
      for (const d of devices) await d.close();
      await bridge?.close();
      for (const pid of stoppedPids) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone
        }
      }
      rss.stop();
      await hub.stop();
    }
  },
};
