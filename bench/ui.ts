// The staff web UI, measured against a real hub (`gatehouse start` in its own process, deployed flags):
// - first load: the bytes a browser sending `accept-encoding: br` receives for index.html and every file
//   it loads before the UI can run (scripts, styles, their static imports and url()s), from the built
//   ui/dist; "not built" when there is none;
// - memory: hub RSS with 10 staff live streams (10 logins) open vs none, the same events flowing in both;
// - revocation: a credential.revoke HTTP call returns → the next presentation of that card at a
//   simulated door is denied, over ~50 rounds, next to a baseline presentation without a revoke.
// Called by bench/run.ts (`npm run bench -- --only ui`).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { openHubStore } from '../hub/open-store.js';
import { type HubProcess, RssSampler, rssMiB, startHubProcess } from './hub-process.js';
import { type Figure, formatNumber, type SuiteResult } from './report.js';
import { summarize } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The built UI the hub serves by default: `<package root>/ui/dist` (dist/bench → ../..). */
const UI_DIST = path.resolve(here, '../../ui/dist');

const ROUNDS = Number(process.env.BENCH_UI_ROUNDS ?? 50);
const STREAMS = 10;
/** Presentations per memory phase: each is an event every open stream carries. */
const EVENTS_PER_PHASE = Number(process.env.BENCH_UI_EVENTS ?? 300);
const PASSWORD = 'bench passphrase 1';
const DOOR = 'front';
const FIRST_LOAD_GOAL_BYTES = 150_000;
const STREAMS_RSS_GOAL_MIB = 10;
const REVOKE_GOAL_MS = 1000;

function log(message: string): void {
  process.stderr.write(`[bench ui] ${message}\n`);
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Kept-alive connections, as a browser keeps them. */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

function http(
  port: number,
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: unknown; from?: string } = {},
): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: url,
        // A login from its own source address: the per-address login budget is not what is measured.
        ...(options.from ? { localAddress: options.from, agent: false } : { agent: keepAlive }),
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
}

function decoded(answer: Answer): Buffer {
  const encoding = answer.headers['content-encoding'];
  if (encoding === 'br') return brotliDecompressSync(answer.body);
  return encoding === 'gzip' ? gunzipSync(answer.body) : answer.body;
}

/** What a page, a module or a style sheet makes the browser fetch before the UI runs (not lazy imports). */
export function referencesOf(kind: 'html' | 'js' | 'css', text: string): string[] {
  const found: string[] = [];
  const add = (re: RegExp) => {
    for (const m of text.matchAll(re)) found.push(m[1]!);
  };
  if (kind === 'html') {
    add(/<script\b[^>]*\bsrc=["']([^"']+)["']/gi);
    for (const tag of text.matchAll(/<link\b[^>]*>/gi)) {
      const rel = /\brel=["']([^"']+)["']/i.exec(tag[0])?.[1]?.toLowerCase() ?? '';
      const href = /\bhref=["']([^"']+)["']/i.exec(tag[0])?.[1];
      if (href && /(^|\s)(stylesheet|modulepreload|preload|icon|manifest)(\s|$)/.test(rel)) found.push(href);
    }
  } else if (kind === 'js') {
    // Static imports and re-exports (`import x from"./chunk.js"`, `import"./a.js"`, `export*from"./b.js"`).
    add(/(?:^|[\s;}])(?:import|export)\s*(?:[\w$*{}\s,]*?\s*from\s*)?["']([^"']+\.m?js)["']/g);
  } else {
    add(/url\(\s*["']?([^"')]+)["']?\s*\)/g);
    add(/@import\s+["']([^"']+)["']/g);
  }
  return found.filter((ref) => !/^(data:|blob:|https?:|\/\/|#)/.test(ref));
}

function kindOf(url: string): 'html' | 'js' | 'css' | 'other' {
  if (url === '/' || url.endsWith('.html')) return 'html';
  if (/\.m?js$/.test(url)) return 'js';
  if (url.endsWith('.css')) return 'css';
  return 'other';
}

async function firstLoad(port: number): Promise<Record<string, unknown>> {
  if (!existsSync(path.join(UI_DIST, 'index.html'))) {
    return { built: false, note: `not built: no ${path.relative(process.cwd(), UI_DIST)}/index.html` };
  }
  const files: Array<{ path: string; encoding: string; bytes: number; uncompressedBytes: number }> = [];
  const seen = new Set<string>();
  const queue = ['/'];
  const headers = {
    accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
    'accept-encoding': 'br',
  };
  while (queue.length > 0) {
    const url = queue.shift()!;
    if (seen.has(url)) continue;
    seen.add(url);
    const answer = await http(port, 'GET', url, { headers });
    if (answer.status !== 200) throw new Error(`GET ${url}: ${answer.status}`);
    const plain = decoded(answer);
    files.push({
      path: url,
      encoding: String(answer.headers['content-encoding'] ?? 'identity'),
      bytes: answer.body.length,
      uncompressedBytes: plain.length,
    });
    const kind = kindOf(url);
    if (kind === 'other') continue;
    for (const ref of referencesOf(kind, plain.toString('utf8'))) {
      queue.push(new URL(ref, `http://hub${url}`).pathname);
    }
  }
  const total = files.reduce((sum, f) => sum + f.bytes, 0);
  return {
    built: true,
    bytes: total,
    kib: Math.round((total / 1024) * 10) / 10,
    uncompressedBytes: files.reduce((sum, f) => sum + f.uncompressedBytes, 0),
    files,
    goal: { 'first load <= 150,000 bytes (br)': total <= FIRST_LOAD_GOAL_BYTES },
  };
}

/** Median VmRSS over a few samples, after a pause for the hub to settle. */
async function settledRss(pid: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 2000));
  const samples: number[] = [];
  for (let i = 0; i < 9; i++) {
    samples.push(rssMiB(pid) ?? Number.NaN);
    await new Promise((r) => setTimeout(r, 250));
  }
  samples.sort((a, b) => a - b);
  return samples[4]!;
}

interface OpenStream {
  events: () => number;
  close: () => void;
}

function openStream(port: number, token: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    let events = 0;
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/stream',
        agent: false,
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream: ${res.statusCode}`));
          return;
        }
        let hello = false;
        res.on('data', (c: Buffer) => {
          const text = c.toString('utf8');
          events += text.split('event: event\n').length - 1;
          if (!hello && text.includes('event: hello')) {
            hello = true;
            resolve({ events: () => events, close: () => req.destroy() });
          }
        });
      },
    );
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
    req.end();
  });
}

async function present(port: number, token: string, card: string): Promise<{ granted: boolean; ms: number }> {
  const started = performance.now();
  const answer = await http(port, 'POST', `/api/v1/sim/doors/${DOOR}/card`, {
    headers: { authorization: `Bearer ${token}` },
    body: { value: card },
  });
  const ms = performance.now() - started;
  if (answer.status !== 200) throw new Error(`present: ${answer.status} ${answer.body.toString('utf8')}`);
  return { granted: (json(answer).decision as { granted: boolean }).granted, ms };
}

/**
 * Phases without and with the streams, alternating and ending without: RSS drifts up over a run whatever
 * is open (V8 grows its heap and keeps the pages), so each phase with streams is compared with the mean
 * of the phases without on either side of it.
 */
const MEMORY_CYCLES = Number(process.env.BENCH_UI_MEMORY_CYCLES ?? 3);

async function memory(hub: HubProcess, tokens: string[], card: string): Promise<Record<string, unknown>> {
  const port = hub.httpPort;
  const sampler = new RssSampler(hub.pid, 100);
  const load = async () => {
    for (let i = 0; i < EVENTS_PER_PHASE; i++) await present(port, tokens[0]!, card);
  };
  const without = async (label: string) => {
    log(`memory ${label}: ${EVENTS_PER_PHASE} presentations with no stream open`);
    await load();
    none.push(await settledRss(hub.pid));
  };
  const none: number[] = [];
  const ten: number[] = [];
  const delivered: number[] = [];
  try {
    for (let cycle = 1; cycle <= MEMORY_CYCLES; cycle++) {
      await without(`${cycle}/${MEMORY_CYCLES}`);
      log(`memory ${cycle}/${MEMORY_CYCLES}: ${STREAMS} streams (one per staff login), the same load`);
      const streams = await Promise.all(tokens.slice(0, STREAMS).map((t) => openStream(port, t)));
      await load();
      await new Promise((r) => setTimeout(r, 500));
      ten.push(await settledRss(hub.pid));
      delivered.push(...streams.map((s) => s.events()));
      for (const s of streams) s.close();
    }
    await without('last');
    const round = (v: number) => Math.round(v * 10) / 10;
    const deltas = ten.map((mib, i) => round(mib - (none[i]! + none[i + 1]!) / 2));
    const delta = [...deltas].sort((a, b) => a - b)[Math.floor(deltas.length / 2)]!;
    return {
      rssNoStreamsMiB: none,
      rssTenStreamsMiB: ten,
      deltaMiB: deltas,
      deltaMedianMiB: delta,
      driftWithoutStreamsMiB: round(none.at(-1)! - none[0]!),
      peakMiB: sampler.peakMiB,
      eventsPerStream: {
        min: Math.min(...delivered),
        max: Math.max(...delivered),
        expected: EVENTS_PER_PHASE,
      },
      goal: {
        [`10 streams <= +${STREAMS_RSS_GOAL_MIB} MiB (median of cycles)`]: delta <= STREAMS_RSS_GOAL_MIB,
      },
    };
  } finally {
    sampler.stop();
  }
}

async function revocation(
  port: number,
  token: string,
  baselineCard: string,
  cards: Array<{ id: string; hex: string }>,
): Promise<Record<string, unknown>> {
  const baseline: number[] = [];
  const revokeCall: number[] = [];
  const fromReturn: number[] = [];
  const fromCallStart: number[] = [];
  let grantedAfterRevoke = 0;
  for (const [round, card] of cards.entries()) {
    const base = await present(port, token, baselineCard);
    if (!base.granted) throw new Error('the baseline card was refused');
    if (round > 0) baseline.push(base.ms); // the first warms the connection up
    if (!(await present(port, token, card.hex)).granted)
      throw new Error(`card ${card.hex} refused before revoke`);

    const callStarted = performance.now();
    const revoked = await http(port, 'POST', `/api/v1/credentials/${card.id}/revoke`, {
      headers: { authorization: `Bearer ${token}` },
      body: { reason: 'bench' },
    });
    const returned = performance.now();
    if (revoked.status !== 200) throw new Error(`revoke: ${revoked.status} ${revoked.body.toString('utf8')}`);
    // The next presentation; were it granted (a defect: deny wins), keep presenting until it is not.
    for (;;) {
      const next = await present(port, token, card.hex);
      if (!next.granted) break;
      grantedAfterRevoke++;
      if (performance.now() - returned > 5000) throw new Error('still granted 5 s after the revoke');
    }
    const denied = performance.now();
    if (round > 0) {
      revokeCall.push(returned - callStarted);
      fromReturn.push(denied - returned);
      fromCallStart.push(denied - callStarted);
    }
  }
  const toReturn = summarize(fromReturn);
  return {
    rounds: fromReturn.length,
    baselinePresentationMs: summarize(baseline),
    revokeCallMs: summarize(revokeCall),
    revokeReturnedToDeniedMs: toReturn,
    revokeClickedToDeniedMs: summarize(fromCallStart),
    grantedAfterRevoke,
    goal: {
      [`revoke returned → denied p99 <= ${REVOKE_GOAL_MS} ms`]: toReturn.p99 <= REVOKE_GOAL_MS,
      'never granted after the revoke returned': grantedAfterRevoke === 0,
    },
  };
}

/** A data dir with a simulated door, a group, one card per revoke round, and staff logins. */
async function seed(
  dataDir: string,
): Promise<{ baselineCard: string; cards: Array<{ id: string; hex: string }> }> {
  const opened = openHubStore(dataDir);
  const { store } = opened;
  try {
    store.doors.add({ id: DOOR, name: 'Front entrance', transport: 'sim' });
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', DOOR);
    const cards: Array<{ id: string; hex: string }> = [];
    let baselineCard = '';
    store.transaction(() => {
      for (let i = 0; i <= ROUNDS + 1; i++) {
        const personId = `r${i}`;
        store.people.add({ id: personId, name: `Resident ${i}`, kind: 'resident' });
        store.groups.addMember('residents', personId);
        const hex = (0x05000000 + i).toString(16).toUpperCase().padStart(8, '0');
        const credential = store.credentials.addCard(personId, hex);
        if (i === 0) baselineCard = hex;
        else cards.push({ id: credential.id, hex });
      }
    });
    for (let i = 0; i < STREAMS; i++) await store.users.add(`staff${i}`, PASSWORD, 'staff');
    return { baselineCard, cards };
  } finally {
    opened.close();
  }
}

function uiFigures(report: Record<string, unknown>): Figure[] {
  const first = report.firstLoad as { built: boolean; bytes?: number; uncompressedBytes?: number };
  const memory = report.streamsMemory as { deltaMedianMiB: number; rssNoStreamsMiB: number[] };
  const revoke = report.revokeToDenied as {
    rounds: number;
    baselinePresentationMs: { p99: number };
    revokeReturnedToDeniedMs: { p50: number; p99: number };
    revokeClickedToDeniedMs: { p99: number };
    grantedAfterRevoke: number;
  };
  return [
    {
      name: 'staff UI first load (brotli)',
      value: first.built ? (first.bytes ?? Number.NaN) : Number.NaN,
      unit: 'bytes',
      goal: { op: '<=', value: FIRST_LOAD_GOAL_BYTES, source: '#10' },
      note: first.built ? `${first.uncompressedBytes} bytes uncompressed` : 'ui/dist not built',
    },
    {
      name: 'hub RSS with 10 staff live streams, more than with none',
      value: memory.deltaMedianMiB,
      unit: 'MiB',
      goal: { op: '<=', value: STREAMS_RSS_GOAL_MIB, source: '#10' },
      note: `median of the cycles; RSS without streams ${memory.rssNoStreamsMiB.join(', ')} MiB`,
    },
    {
      name: 'revoke returned → card denied at the door p99',
      value: revoke.revokeReturnedToDeniedMs.p99,
      unit: 'ms',
      baseline: { name: 'a presentation nobody revokes p99', value: revoke.baselinePresentationMs.p99 },
      goal: { op: '<=', value: REVOKE_GOAL_MS, source: '#10' },
      note: `${revoke.rounds} rounds; from the click p99 ${formatNumber(revoke.revokeClickedToDeniedMs.p99)} ms`,
    },
    {
      name: 'granted after the revoke returned',
      value: revoke.grantedAfterRevoke,
      unit: 'count',
      goal: { op: '<=', value: 0, source: '#10' },
    },
  ];
}

export async function benchUi(): Promise<SuiteResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-bench-ui-'));
  let hub: HubProcess | null = null;
  try {
    const { baselineCard, cards } = await seed(dataDir);
    // The first boot makes the CA and certificates (loading a library an ordinary boot does not need).
    await (await startHubProcess(dataDir)).stop();
    hub = await startHubProcess(dataDir);
    const port = hub.httpPort;
    const tokens: string[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const login = await http(port, 'POST', '/api/v1/session', {
        body: { username: `staff${i}`, password: PASSWORD },
        from: `127.0.0.${20 + i}`,
      });
      if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body.toString('utf8')}`);
      tokens.push(json(login).token as string);
    }
    const report: Record<string, unknown> = {};
    log('first load of the built UI');
    report.firstLoad = await firstLoad(port);
    report.streamsMemory = await memory(hub, tokens, baselineCard);
    log(`revoke → denied at a simulated door, ${cards.length} rounds`);
    report.revokeToDenied = await revocation(port, tokens[0]!, baselineCard, cards);
    const exit = hub.exit();
    if (exit) throw new Error(`the hub exited during the bench: ${hub.lastErrors().join(' | ')}`);
    return { figures: uiFigures(report), ...report };
  } finally {
    keepAlive.destroy();
    await hub?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
