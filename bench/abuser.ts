// A misbehaving client for bench/isolation.ts, in its own process so that its busy loop does not
// delay the well-behaved devices whose latency the benchmark measures. It runs a plan for a fixed
// time and prints one JSON report line on stdout:
// - flood: one authenticated device publishing QoS 0 as fast as its socket takes it (credentials
//   on its own door, credentials on a door it does not serve, or door events), with at most
//   MAX_BUFFERED_BYTES queued in the client; disconnected, it reconnects and keeps flooding;
// - heldSockets: N raw TCP connections that never send CONNECT, each re-opened when dropped;
// - wrongPasswords: N logins with a wrong secret, spread over the run.
// Every answer the hub sends is counted by reason, whatever the reasons are.
// Only 127.0.0.1 is contacted. Started by bench/isolation.ts with the plan in BENCH_ABUSER_PLAN.
import { type Socket, connect as tcpConnect } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';

export type FloodKind = 'credential' | 'refused' | 'event';

export interface AbuserPlan {
  port: number;
  seconds: number;
  flood?: {
    kind: FloodKind;
    username: string;
    password: string;
    /** The door the device serves. */
    door: string;
    /** A door it does not serve (target of `refused`). */
    otherDoor: string;
    /** Card values to present (granted ones make the hub do the whole decision). */
    cards: string[];
  };
  heldSockets?: number;
  wrongPasswords?: { username: string; count: number };
}

export interface AbuserReport {
  flood?: {
    kind: FloodKind;
    published: number;
    perSecond: number;
    answersByReason: Record<string, number>;
    connects: number;
    disconnects: number;
    clientErrors: Record<string, number>;
  };
  heldSockets?: { target: number; opened: number; droppedByHub: number; maxOpen: number; errors: number };
  wrongPasswords?: { attempts: number; outcomes: Record<string, number> };
}

/** Bytes the flooder lets queue in its own socket before waiting for 'drain' (keeps the flooder small). */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** Publishes per turn of the event loop, so answers and pings are still read while flooding. */
const BURST = 500;
/** Delay before a dropped flooder reconnects, and before a dropped held socket is re-opened. */
const RECONNECT_MS = 250;
const REOPEN_MS = 20;
/** Answers still arriving this long after the flood are counted. */
const DRAIN_MS = 2000;

const count = (map: Record<string, number>, key: string) => {
  map[key] = (map[key] ?? 0) + 1;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** When the run ends; SIGTERM moves it to now (the benchmark stops a flood that eats the machine). */
let endAt = Number.POSITIVE_INFINITY;
async function untilEnd(): Promise<void> {
  while (Date.now() < endAt) await sleep(Math.min(100, endAt - Date.now()));
}

function reasonOf(topic: string, payload: Buffer): string {
  try {
    const body = JSON.parse(payload.toString()) as Record<string, unknown>;
    if (topic.endsWith('/decision')) return String(body.reason ?? 'decision without reason');
    if (topic.endsWith('/error')) return `error: ${String(body.error ?? '').split(':')[0]}`;
  } catch {
    // not JSON
  }
  return `message on …/${topic.split('/').pop()}`;
}

/** Resolves `ready` once the flooder is connected and subscribed; the run's clock starts then. */
async function flood(plan: AbuserPlan, spec: NonNullable<AbuserPlan['flood']>, onReady: () => void) {
  const report: NonNullable<AbuserReport['flood']> = {
    kind: spec.kind,
    published: 0,
    perSecond: 0,
    answersByReason: {},
    connects: 0,
    disconnects: 0,
    clientErrors: {},
  };
  const topic =
    spec.kind === 'event'
      ? `gatehouse/door/${spec.door}/event`
      : `gatehouse/door/${spec.kind === 'refused' ? spec.otherDoor : spec.door}/credential`;
  const payload = (n: number) =>
    spec.kind === 'event'
      ? n % 2 === 0
        ? '{"type":"rex"}'
        : '{"type":"doorbell"}'
      : JSON.stringify({ id: `f${n}`, kind: 'card', value: spec.cards[n % spec.cards.length] });
  let running = true;
  let client: MqttClient | null = null;
  let signalReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    signalReady = resolve;
  });

  const pump = (c: MqttClient) => {
    if (!running || c !== client || !c.connected) return;
    const stream = c.stream as unknown as { writableLength: number; once(e: 'drain', f: () => void): void };
    for (let i = 0; i < BURST && stream.writableLength < MAX_BUFFERED_BYTES; i++) {
      c.publish(topic, payload(report.published), { qos: 0 });
      report.published++;
    }
    if (stream.writableLength >= MAX_BUFFERED_BYTES) stream.once('drain', () => pump(c));
    else setImmediate(() => pump(c));
  };

  const open = () => {
    if (!running) return;
    const c = mqtt.connect(`mqtt://127.0.0.1:${plan.port}`, {
      username: spec.username,
      password: spec.password,
      clientId: `bench-flooder-${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 30,
      queueQoSZero: false,
    });
    client = c;
    let connected = false;
    c.on('connect', () => {
      connected = true;
      report.connects++;
      (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      c.subscribe(
        [`gatehouse/door/${spec.door}/decision`, `gatehouse/device/${spec.username}/error`],
        { qos: 1 },
        () => {
          signalReady();
          pump(c);
        },
      );
    });
    c.on('message', (t, p) => count(report.answersByReason, reasonOf(t, p)));
    c.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      count(report.clientErrors, code === undefined ? err.message.slice(0, 60) : `code ${String(code)}`);
    });
    c.on('close', () => {
      if (c !== client) return;
      if (connected) report.disconnects++;
      else count(report.clientErrors, 'closed before CONNACK');
      connected = false;
      if (running) setTimeout(open, RECONNECT_MS);
    });
  };

  open();
  // Ready when the first subscription is in place, or after 10 s without one (counted as failures).
  await Promise.race([ready, sleep(10_000)]);
  const started = performance.now();
  onReady();
  await untilEnd();
  running = false;
  report.perSecond = Math.round(report.published / ((performance.now() - started) / 1000));
  await sleep(DRAIN_MS); // answers still on their way are counted
  const last = client as MqttClient | null;
  client = null;
  await last?.endAsync(true).catch(() => undefined);
  return report;
}

async function heldSockets(plan: AbuserPlan, target: number) {
  const report = { target, opened: 0, droppedByHub: 0, maxOpen: 0, errors: 0 };
  const open = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let running = true;
  const openOne = () => {
    if (!running) return;
    const socket = tcpConnect({ host: '127.0.0.1', port: plan.port });
    socket.setNoDelay(true);
    report.opened++;
    open.add(socket);
    if (open.size > report.maxOpen) report.maxOpen = open.size;
    socket.on('error', () => {
      report.errors++;
    });
    socket.on('data', () => {}); // whatever the hub sends, keep reading
    socket.on('close', () => {
      open.delete(socket);
      if (!running) return;
      report.droppedByHub++;
      const timer = setTimeout(() => {
        timers.delete(timer);
        openOne();
      }, REOPEN_MS);
      timers.add(timer);
    });
  };
  for (let i = 0; i < target; i++) openOne();
  await untilEnd();
  running = false;
  for (const timer of timers) clearTimeout(timer);
  for (const socket of open) socket.destroy();
  return report;
}

async function wrongPasswords(plan: AbuserPlan, spec: NonNullable<AbuserPlan['wrongPasswords']>) {
  const report = { attempts: 0, outcomes: {} as Record<string, number> };
  const start = Date.now();
  const spacing = Math.max(1, (endAt - start) / spec.count);
  const attempts: Promise<void>[] = [];
  const attempt = (i: number) =>
    new Promise<void>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${plan.port}`, {
        username: spec.username,
        password: `wrong-${i}`,
        clientId: `bench-wrong-${i}`,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      let outcome: string | null = null;
      const finish = (what: string) => {
        if (outcome !== null) return;
        outcome = what;
        count(report.outcomes, what);
        c.end(true);
        resolve();
      };
      c.on('connect', () => finish('accepted'));
      c.on('error', (err) => {
        const code = (err as { code?: unknown }).code;
        finish(typeof code === 'number' ? `CONNACK ${code}` : `error ${String(code ?? err.message)}`);
      });
      c.on('close', () => finish('closed before CONNACK'));
    });
  // On schedule; a process that fell behind (it runs at low priority) catches up rather than skipping.
  while (report.attempts < spec.count && Date.now() < endAt) {
    const due = Math.min(spec.count, Math.floor((Date.now() - start) / spacing) + 1);
    for (; report.attempts < due; report.attempts++) attempts.push(attempt(report.attempts));
    await sleep(Math.max(1, start + report.attempts * spacing - Date.now()));
  }
  await Promise.all(attempts);
  return report;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.env.BENCH_ABUSER_PLAN ?? '{}') as AbuserPlan;
  if (!plan.port || !plan.seconds) throw new Error('BENCH_ABUSER_PLAN needs port and seconds');
  // Bounded in time whatever happens (e.g. the benchmark died without stopping us).
  setTimeout(() => process.exit(2), (plan.seconds + 40) * 1000).unref();
  process.on('SIGTERM', () => {
    endAt = Math.min(endAt, Date.now());
  });
  const report: AbuserReport = {};
  const parts: Promise<void>[] = [];
  // The clock starts when the flooder is in (or at once without one); then everything runs together.
  let start: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    start = resolve;
  });
  if (plan.flood)
    parts.push(
      flood(plan, plan.flood, start).then((r) => {
        report.flood = r;
      }),
    );
  else start();
  await started;
  endAt = Math.min(endAt, Date.now() + plan.seconds * 1000);
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  if (plan.heldSockets)
    parts.push(
      heldSockets(plan, plan.heldSockets).then((r) => {
        report.heldSockets = r;
      }),
    );
  if (plan.wrongPasswords)
    parts.push(
      wrongPasswords(plan, plan.wrongPasswords).then((r) => {
        report.wrongPasswords = r;
      }),
    );
  await Promise.all(parts);
  process.stdout.write(`${JSON.stringify({ report })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`abuser: ${String(err)}\n`);
    process.exit(1);
  },
);
