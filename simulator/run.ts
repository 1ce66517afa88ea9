// One simulated day against a real hub process: seed the building, start the development cloud and the
// compiled hub, connect every door controller over TLS, then replay the day's traffic and incidents on
// a clock running `speed` times faster than real time, and check what came out.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type HubProcess, RssSampler, startHubProcess } from '../bench/hub-process.js';
import { callHub } from '../hub/cli/hub-client.js';
import { issueCode, logoutEverywhere, revokeCredential } from './admin.js';
import { cloudStoredSeq, compareDelivery, type Delivery, type SimCloud, startCloud } from './cloud.js';
import { type Answer, DoorClient, type FloodResult, flood, presentPhone } from './doors.js';
import { Counter, Reservoir, Timeline } from './metrics.js';
import type { Scenario } from './options.js';
import { DOOR_HELD_OPEN_MS, type Population, seedPopulation, writeHubConfig } from './population.js';
import { type Check, type SimulationReport, writeReport } from './report.js';
import {
  arrivalRate,
  drawPassage,
  type Incident,
  incidentTimeline,
  type Passage,
  poisson,
  seededRandom,
} from './traffic.js';

const TICK_MS = 50;
const PROGRESS_EVERY_MS = 2000;
const SAMPLE_HUB_EVERY_MS = 1000;
const RESERVOIR = 20_000;
/** The cloud outage and the flood last at least this long in real time, whatever the speed. */
const MIN_REAL_OUTAGE_MS = 3000;
const MIN_REAL_FLOOD_MS = 3000;
const DRAIN_TIMEOUT_MS = 180_000;

type DoorType = 'lan_mqtt_tls' | 'mobile_lan_api';
type CredentialKind = 'card' | 'pin' | 'mobile' | 'daily_code' | 'one_time_code';

export type Log = (line: string) => void;

interface HubStatus {
  mqtt?: { tls?: number };
  cloud?: { connected?: boolean; backlog?: number; lastSeq?: number; ackedSeq?: number };
}

async function hubStatus(dataDir: string): Promise<HubStatus | null> {
  try {
    const res = await callHub(dataDir, 'GET', '/status', undefined, {
      'x-gatehouse-actor': 'simulator',
    });
    return res.status === 200 ? (res.body as HubStatus) : null;
  } catch {
    return null;
  }
}

async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function clockOf(secondOfDay: number): string {
  const s = Math.floor(secondOfDay) % 86_400;
  return `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
}

export async function runSimulation(scenario: Scenario, log: Log): Promise<SimulationReport> {
  const startedAt = new Date();
  const outDir = path.resolve(scenario.out ?? `simulation-${startedAt.toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-sim-'));
  const dataDir = path.join(work, 'data');
  const cloudDir = path.join(work, 'cloud');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(cloudDir);
  const random = seededRandom(scenario.seed);
  const span = scenario.hours * 3600;
  const dayStart = scenario.startHour * 3600;

  let cloud: SimCloud | null = null;
  let hub: HubProcess | null = null;
  const clients: DoorClient[] = [];
  try {
    cloud = await startCloud(cloudDir);
    const seedStart = performance.now();
    const population = seedPopulation(dataDir, scenario, random);
    writeHubConfig(dataDir, { port: cloud.port, caFile: cloud.caFile, token: cloud.token, hubId: 'sim-hub' });
    log(
      `seeded ${population.residents.length} residents, ${population.doors.length} doors, ` +
        `${population.mobileHolders.length} mobile keys in ${Math.round(performance.now() - seedStart)} ms`,
    );
    hub = await startHubProcess(dataDir);
    const status = await hubStatus(dataDir);
    const tlsPort = status?.mqtt?.tls;
    if (!tlsPort) throw new Error('the hub reports no MQTT TLS port');
    await until(
      'the hub to reach the development cloud',
      async () => (await hubStatus(dataDir))?.cloud?.connected === true,
      60_000,
    );
    const caPem = readFileSync(path.join(dataDir, 'certs', 'ca.crt'), 'utf8');
    for (const door of population.doors) {
      const client = await DoorClient.connect(door, tlsPort, caPem);
      await client.contact('closed');
      clients.push(client);
    }
    const plantRoom = await DoorClient.connect(population.plantRoom, tlsPort, caPem);
    await plantRoom.contact('closed');
    clients.push(plantRoom);
    log(`hub pid ${hub.pid}, ${clients.length} door controllers connected over TLS`);
    const day = new Day(
      scenario,
      population,
      clients.slice(0, -1),
      dataDir,
      `http://127.0.0.1:${hub.httpPort}`,
      random,
      log,
    );
    day.tlsPort = tlsPort;
    day.caPem = caPem;
    day.cloud = cloud;
    day.plantRoom = plantRoom;
    const rss = new RssSampler(hub.pid, 1000);
    // The simulator's own stalls: a late timer here looks like a slow hub in the latencies.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    await day.run(span, dayStart);
    rss.stop();
    loopDelay.disable();

    // End of the day: controllers go home, the cloud catches up, the hub stops, then the logs are compared.
    for (const client of clients.splice(0)) await client.close();
    if (!cloud.cloud.listening) await cloud.cloud.startListening();
    let throughSeq = 0;
    const drainStart = performance.now();
    await until(
      'the cloud backlog to drain',
      async () => {
        const s = await hubStatus(dataDir);
        const last = s?.cloud?.lastSeq ?? -1;
        if (s?.cloud?.backlog === 0 && cloudStoredSeq(cloud!.cloud) >= last) {
          throughSeq = last;
          return true;
        }
        return false;
      },
      DRAIN_TIMEOUT_MS,
    );
    const drainSeconds = Math.round(performance.now() - drainStart) / 1000;
    const stopped = await hub.stop();
    const hubLog = hub.log();
    hub = null;
    const delivery = compareDelivery(dataDir, cloud.cloud, throughSeq);
    const report = day.report({
      startedAt,
      delivery,
      drainSeconds,
      hubPeakRssMiB: rss.peakMiB,
      simulatorLoopDelayMs: {
        p99: Math.round(loopDelay.percentile(99) / 1e5) / 10,
        max: Math.round(loopDelay.max / 1e5) / 10,
      },
      hubShutdownMs: stopped.shutdownMs,
      hubErrorLines: hubLog.errorLines,
    });
    writeReport(outDir, report);
    log(`report written to ${outDir}/report.json and ${outDir}/report.html`);
    return report;
  } finally {
    for (const client of clients) await client.close().catch(() => {});
    await hub?.stop();
    await cloud?.cloud.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The day's state: counters, the revoked credentials, and the traffic and incident loops. */
class Day {
  readonly results = new Counter();
  readonly byDoorType = new Map<DoorType, Reservoir>();
  readonly byKind = new Map<CredentialKind, Reservoir>();
  readonly timeline: Timeline;
  readonly incidents: Array<{ name: string; simSeconds: number; clock: string; did: string }> = [];
  readonly sent = new Counter();
  inFlight = 0;
  maxInFlight = 0;
  decisions = 0;
  granted = 0;
  /** A grant for a credential revoked before it was presented (a lost card, a logged-out phone). */
  revokedGranted = 0;
  revokedDenied = 0;
  /** A grant for something that must not open a door: an unknown card, a wrong PIN, a used one-time code. */
  wrongGrants = 0;
  /** A resident's valid credential refused (e.g. rate limited, locked out): reported, not a failure. */
  unexpectedDenials = new Counter();
  codeChecks: Array<{ what: string; expected: string; got: string; ok: boolean }> = [];
  maxBacklog = 0;
  flood: FloodResult | null = null;
  /** Credential values revoked, with the real time (performance.now) the revocation returned. */
  readonly revokedCards = new Map<string, number>();
  readonly loggedOutPhones = new Map<number, number>();
  readonly deadPhones = new Set<number>();
  tlsPort = 0;
  caPem = '';
  cloud: SimCloud | null = null;
  plantRoom: DoorClient | null = null;
  #simNow = () => 0;
  #realStart = 0;
  #outageStartedAt = 0;

  readonly scenario: Scenario;
  readonly population: Population;
  readonly clients: DoorClient[];
  readonly dataDir: string;
  readonly apiBase: string;
  readonly random: () => number;
  readonly log: Log;

  constructor(
    scenario: Scenario,
    population: Population,
    clients: DoorClient[],
    dataDir: string,
    apiBase: string,
    random: () => number,
    log: Log,
  ) {
    this.scenario = scenario;
    this.population = population;
    this.clients = clients;
    this.dataDir = dataDir;
    this.apiBase = apiBase;
    this.random = random;
    this.log = log;
    this.timeline = new Timeline(scenario.hours * 3600);
  }

  #reservoir<K>(map: Map<K, Reservoir>, key: K): Reservoir {
    let r = map.get(key);
    if (!r) {
      r = new Reservoir(RESERVOIR, this.random);
      map.set(key, r);
    }
    return r;
  }

  /** Sends one presentation and records its answer; `mustDeny` is set for credentials that must not open. */
  async present(
    door: number,
    kind: CredentialKind,
    value: string,
    expect: 'grant' | 'deny' | 'revoked',
    phoneOf?: number,
  ): Promise<Answer> {
    const sentAt = performance.now();
    const simAt = this.#simNow();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.sent.add(kind);
    let answer: Answer;
    let doorType: DoorType;
    try {
      if (kind === 'mobile') {
        const resident = this.population.residents[phoneOf!]!;
        doorType = 'mobile_lan_api';
        answer = await presentPhone(resident.phone!, this.population.doors[door]!.id, this.apiBase);
      } else {
        doorType = 'lan_mqtt_tls';
        answer = await this.clients[door]!.present(kind === 'card' ? 'card' : 'keypad', value);
      }
    } finally {
      this.inFlight--;
    }
    // A credential revoked before this presentation was sent must be refused.
    const revokedAt =
      kind === 'card'
        ? this.revokedCards.get(value)
        : phoneOf !== undefined
          ? this.loggedOutPhones.get(phoneOf)
          : undefined;
    const mustBeRevoked = expect === 'revoked' || (revokedAt !== undefined && revokedAt < sentAt);
    this.decisions++;
    this.results.add(answer.reason);
    if (answer.granted) this.granted++;
    if (answer.reason !== 'no_answer') {
      this.#reservoir(this.byDoorType, doorType).add(answer.latencyMs);
      this.#reservoir(this.byKind, kind).add(answer.latencyMs);
      this.timeline.decision(simAt, answer.latencyMs, answer.granted);
    }
    if (mustBeRevoked) {
      if (answer.granted) this.revokedGranted++;
      else this.revokedDenied++;
    } else if (expect === 'deny' && answer.granted) this.wrongGrants++;
    else if (expect === 'grant' && !answer.granted) this.unexpectedDenials.add(answer.reason);
    return answer;
  }

  #passage(passage: Passage): void {
    const { residents, doors } = this.population;
    const door =
      'resident' in passage && this.random() < 0.7
        ? residents[passage.resident]!.homeDoor
        : Math.floor(this.random() * doors.length);
    const track = (p: Promise<unknown>) =>
      void p.catch((err: unknown) => this.log(`presentation failed: ${String(err)}`));
    switch (passage.kind) {
      case 'rex':
        this.sent.add('rex');
        this.clients[door]!.rex();
        return;
      case 'unknown_card':
        track(
          this.present(
            door,
            'card',
            `0499${Math.floor(this.random() * 1e10)
              .toString(16)
              .toUpperCase()
              .padStart(10, '0')}`,
            'deny',
          ),
        );
        return;
      case 'wrong_pin':
        // 7 digits: no resident has a 7-digit PIN and offline codes are 9 or 12 digits.
        track(this.present(door, 'pin', String(1_000_000 + Math.floor(this.random() * 8_999_999)), 'deny'));
        return;
      case 'mobile':
        if (this.deadPhones.has(passage.resident)) {
          track(this.present(door, 'card', residents[passage.resident]!.card, 'grant'));
          return;
        }
        track(this.present(door, 'mobile', '', 'grant', passage.resident));
        return;
      case 'card': {
        const card = residents[passage.resident]!.card;
        track(this.present(door, 'card', card, this.revokedCards.has(card) ? 'revoked' : 'grant'));
        return;
      }
      case 'pin':
        track(this.present(door, 'pin', residents[passage.resident]!.pin, 'grant'));
        return;
    }
  }

  async run(span: number, dayStart: number): Promise<void> {
    const { scenario, population } = this;
    const perDay = scenario.residents * scenario.passagesPerDay;
    const mobile = new Set(population.mobileHolders);
    const timeline = incidentTimeline(span);
    this.#realStart = performance.now();
    this.#simNow = () => Math.min(span, ((performance.now() - this.#realStart) / 1000) * scenario.speed);
    let last = 0;
    let lastProgress = 0;
    let lastSample = -SAMPLE_HUB_EVERY_MS;
    const running: Array<Promise<void>> = [];
    let nextIncident = 0;
    let sampling = false;
    for (;;) {
      const now = this.#simNow();
      const dt = now - last;
      const arrivals = poisson(arrivalRate(dayStart + (last + now) / 2, perDay) * dt, this.random);
      for (let i = 0; i < arrivals; i++)
        this.#passage(drawPassage(this.random, scenario.residents, (r) => mobile.has(r)));
      last = now;
      while (nextIncident < timeline.length && timeline[nextIncident]!.at <= now) {
        const incident = timeline[nextIncident++]!;
        running.push(
          this.#incident(incident, dayStart).catch((err: unknown) => {
            this.incidents.push({
              name: incident.name,
              simSeconds: incident.at,
              clock: clockOf(dayStart + incident.at),
              did: `FAILED: ${(err as Error).message}`,
            });
          }),
        );
      }
      const real = performance.now() - this.#realStart;
      if (real - lastSample >= SAMPLE_HUB_EVERY_MS && !sampling) {
        lastSample = real;
        sampling = true;
        void hubStatus(this.dataDir).then((s) => {
          sampling = false;
          const backlog = s?.cloud?.backlog;
          if (typeof backlog === 'number') {
            this.timeline.backlog(this.#simNow(), backlog);
            this.maxBacklog = Math.max(this.maxBacklog, backlog);
          }
        });
      }
      if (real - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = real;
        this.log(
          `${clockOf(dayStart + now)} sim (${Math.round((now / span) * 100)}%)  decisions ${this.decisions}` +
            ` (granted ${this.granted})  in flight ${this.inFlight}  cloud backlog ${this.maxBacklog > 0 ? this.#lastBacklog() : 0}`,
        );
      }
      if (now >= span) break;
      await sleep(TICK_MS);
    }
    await Promise.all(running);
    await until('every presentation to be answered', () => this.inFlight === 0, 60_000);
  }

  #lastBacklog(): number {
    const rows = this.timeline.rows();
    for (let i = rows.length - 1; i >= 0; i--) if (rows[i]!.backlog !== null) return rows[i]!.backlog!;
    return 0;
  }

  async #incident(incident: Incident, dayStart: number): Promise<void> {
    const { residents, doors } = this.population;
    const record = (did: string) => {
      this.incidents.push({
        name: incident.name,
        simSeconds: incident.at,
        clock: clockOf(dayStart + incident.at),
        did,
      });
      this.log(`incident ${incident.name}: ${did}`);
    };
    const holder = (k: number) => this.population.mobileHolders[k % this.population.mobileHolders.length]!;
    switch (incident.name) {
      case 'held_open': {
        const door = 1 % doors.length;
        const resident = residents[0]!;
        const answer = await this.present(door, 'card', resident.card, 'grant');
        await this.clients[door]!.contact('open');
        await sleep(DOOR_HELD_OPEN_MS + 2000);
        await this.clients[door]!.contact('closed');
        record(
          `${doors[door]!.id}: card ${answer.granted ? 'granted' : answer.reason}, door left open ${(DOOR_HELD_OPEN_MS + 2000) / 1000} s (real)`,
        );
        return;
      }
      case 'lost_card_revoked': {
        const resident = residents[residents.length > 1 ? 1 : 0]!;
        const before = await this.present(resident.homeDoor, 'card', resident.card, 'grant');
        await revokeCredential(this.dataDir, resident.cardCredentialId);
        this.revokedCards.set(resident.card, performance.now());
        // Whoever found the card tries it at three doors.
        const tries: string[] = [];
        for (let k = 0; k < 3; k++) {
          const a = await this.present(
            (resident.homeDoor + k) % doors.length,
            'card',
            resident.card,
            'revoked',
          );
          tries.push(a.granted ? 'GRANTED' : a.reason);
        }
        record(
          `${resident.id}'s card: ${before.reason} before; revoked with the CLI; then ${tries.join(', ')}`,
        );
        return;
      }
      case 'phone_logged_out': {
        const index = holder(0);
        const resident = residents[index]!;
        const before = await this.present(resident.homeDoor, 'mobile', '', 'grant', index);
        await logoutEverywhere(this.dataDir, resident.id);
        this.loggedOutPhones.set(index, performance.now());
        const tries: string[] = [];
        for (let k = 0; k < 3; k++) {
          const a = await this.present(
            (resident.homeDoor + k) % doors.length,
            'mobile',
            '',
            'revoked',
            index,
          );
          tries.push(a.granted ? 'GRANTED' : a.reason);
        }
        record(
          `${resident.id}'s phone: ${before.reason} before; logged out everywhere; then ${tries.join(', ')}`,
        );
        return;
      }
      case 'dead_phone_daily_code': {
        const index = holder(1);
        const resident = residents[index]!;
        this.deadPhones.add(index);
        const door = doors[resident.homeDoor]!.id;
        const code = await issueCode(this.dataDir, { person: resident.id }, door, 'daily');
        const uses: string[] = [];
        for (let k = 0; k < 2; k++) {
          const a = await this.present(resident.homeDoor, 'daily_code', code, 'grant');
          uses.push(a.granted ? 'granted' : a.reason);
        }
        this.codeChecks.push({
          what: 'daily code, two entries',
          expected: 'granted, granted',
          got: uses.join(', '),
          ok: uses.every((u) => u === 'granted'),
        });
        record(
          `${resident.id} locked out with a dead phone; staff issued a daily code for ${door}: ${uses.join(', ')}`,
        );
        return;
      }
      case 'one_time_code': {
        const door = 2 % doors.length;
        const code = await issueCode(this.dataDir, { guest: 'courier' }, doors[door]!.id, 'once');
        const first = await this.present(door, 'one_time_code', code, 'grant');
        const again = await this.present(door, 'one_time_code', code, 'deny');
        const got = `${first.granted ? 'granted' : first.reason}, ${again.granted ? 'GRANTED' : again.reason}`;
        this.codeChecks.push({
          what: 'one-time code used twice',
          expected: 'granted, expired',
          got,
          ok: first.granted && !again.granted,
        });
        record(`courier's one-time code at ${doors[door]!.id}: ${got}`);
        return;
      }
      case 'cloud_outage_start':
        this.#outageStartedAt = performance.now();
        await this.cloud!.cloud.stopListening();
        record('development cloud stopped (the hub keeps deciding; events queue)');
        return;
      case 'cloud_outage_end': {
        // Incidents run side by side; the outage must have begun before it can end.
        await until('the cloud outage to begin', () => this.#outageStartedAt > 0, 60_000);
        const wait = MIN_REAL_OUTAGE_MS - (performance.now() - this.#outageStartedAt);
        if (wait > 0) await sleep(wait);
        await this.cloud!.cloud.startListening();
        record(
          `development cloud back after ${Math.round(performance.now() - this.#outageStartedAt) / 1000} s (real)`,
        );
        return;
      }
      case 'flood': {
        const realMs = Math.max(MIN_REAL_FLOOD_MS, (60 / this.scenario.speed) * 1000);
        this.flood = await flood(this.population.flooder, this.tlsPort, this.caPem, realMs);
        record(
          `${this.population.flooder.device} flooded ${this.population.flooder.id}: ${this.flood.sent} credentials in ${this.flood.sendSeconds} s (real); answers ${JSON.stringify(this.flood.answered)}`,
        );
        return;
      }
      case 'forced_open': {
        await this.plantRoom!.contact('open');
        await sleep(1000);
        await this.plantRoom!.contact('closed');
        record('plant-room pushed open without a grant, closed after 1 s (real)');
        return;
      }
    }
  }

  report(end: {
    startedAt: Date;
    delivery: Delivery;
    drainSeconds: number;
    hubPeakRssMiB: number;
    hubShutdownMs: number | null;
    hubErrorLines: number;
    simulatorLoopDelayMs: { p99: number; max: number };
  }): SimulationReport {
    const { delivery } = end;
    // A door left without an answer (MQTT) or a phone whose exchange failed (HTTP).
    const unanswered = this.results.get('no_answer') + this.results.get('http_error');
    const checks: Check[] = [
      {
        name: 'no event lost between hub and cloud',
        ok: delivery.lost === 0 && delivery.mismatched === 0,
        value: `${delivery.lost} lost, ${delivery.mismatched} mismatched`,
      },
      {
        name: 'no event duplicated in the cloud',
        ok: delivery.duplicated === 0,
        value: `${delivery.duplicated}`,
      },
      {
        name: 'no revoked credential opened a door',
        ok: this.revokedGranted === 0 && this.revokedDenied > 0,
        value: `${this.revokedGranted} granted, ${this.revokedDenied} denied`,
      },
      {
        name: 'no unknown card, wrong PIN or used code opened a door',
        ok: this.wrongGrants === 0,
        value: `${this.wrongGrants}`,
      },
      { name: 'every presentation answered', ok: unanswered === 0, value: `${unanswered} unanswered` },
      {
        name: 'offline codes behaved',
        ok: this.codeChecks.length > 0 && this.codeChecks.every((c) => c.ok),
        value: this.codeChecks.map((c) => `${c.what}: ${c.got}`).join('; '),
      },
      {
        name: 'held-open and forced-open alarms raised',
        ok: (delivery.alarms['alarm.held_open'] ?? 0) > 0 && (delivery.alarms['alarm.forced_open'] ?? 0) > 0,
        value: JSON.stringify(delivery.alarms),
      },
      { name: "hub's event chain intact", ok: delivery.chainIntact, value: String(delivery.chainIntact) },
      {
        name: 'every incident ran',
        ok:
          this.incidents.length === incidentTimeline(1).length &&
          !this.incidents.some((i) => i.did.startsWith('FAILED')),
        value: `${this.incidents.length}`,
      },
    ];
    const latency = (map: Map<string, Reservoir>) =>
      Object.fromEntries([...map.entries()].map(([k, r]) => [k, r.summary()]));
    return {
      startedAt: end.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      node: process.version,
      scenario: this.scenario,
      decisions: {
        total: this.decisions,
        granted: this.granted,
        byResult: this.results.toJSON(),
        unexpectedDenials: this.unexpectedDenials.toJSON(),
        revokedGranted: this.revokedGranted,
        revokedDenied: this.revokedDenied,
        wrongGrants: this.wrongGrants,
        maxInFlight: this.maxInFlight,
      },
      sent: this.sent.toJSON(),
      latencyMsByDoorType: latency(this.byDoorType as Map<string, Reservoir>),
      latencyMsByCredential: latency(this.byKind as Map<string, Reservoir>),
      alarms: delivery.alarms,
      cloud: { ...delivery, maxBacklog: this.maxBacklog, drainSecondsAfterDay: end.drainSeconds },
      flood: this.flood,
      incidents: this.incidents,
      hub: { peakRssMiB: end.hubPeakRssMiB, shutdownMs: end.hubShutdownMs, errorLogLines: end.hubErrorLines },
      simulator: { eventLoopDelayMs: end.simulatorLoopDelayMs },
      timeline: {
        bucketSeconds: this.timeline.width,
        startHour: this.scenario.startHour,
        rows: this.timeline.rows(),
      },
      incidentMarks: incidentTimeline(this.scenario.hours * 3600),
      checks,
      ok: checks.every((c) => c.ok),
    };
  }
}
