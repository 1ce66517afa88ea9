// The phone endpoints under a LAN flood, through the real hub on loopback HTTP, each request from its own
// source address (127.0.0.x). Issue 8 §4: 12,000 challenge requests from many addresses evicted a real
// phone's challenge; §3: every refused response was an event (12,000 events in ~25 s).
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { IssuerKey, issueMobileKey } from '../../hub/mobile/issuer.js';
import { Phone } from '../../hub/mobile/phone.js';
import { openHubStore } from '../../hub/open-store.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

const ADDRESSES = 200;
const PER_ADDRESS = 60;
/** Enough to show the count does not follow the requests (the old code wrote one event each). */
const RESPONSES_PER_ADDRESS = 15;

let dir: string;
let hub: Hub | null = null;
const agents = new Map<string, http.Agent>();

afterEach(async () => {
  await hub?.stop();
  hub = null;
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
  removeDir(dir);
});

async function building(
  config: Record<string, unknown> = {},
): Promise<{ hub: Hub; phone: Phone; port: number }> {
  dir = tempDataDir();
  hub = await startHub(dir, config);
  const { store } = hub;
  store.doors.add({ id: 'front', name: 'Front', transport: 'sim' });
  store.people.add({ id: 'anna', name: 'Anna', kind: 'resident' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.groups.addMember('residents', 'anna');
  const phone = Phone.generate();
  const issuer = IssuerKey.loadOrCreate(dir);
  phone.install(
    issueMobileKey(store, issuer, { personId: 'anna', phonePublicKey: phone.publicKey, doors: ['front'] })
      .certificate,
  );
  await until('door controller', () => hub!.doors.get('front') !== undefined);
  return { hub, phone, port: hub.addresses().http.http! };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** POST /api/v1{path} from a given loopback source address (keep-alive per address). */
function post(port: number, from: string, path: string, body: unknown): Promise<Reply> {
  let agent = agents.get(from);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    agents.set(from, agent);
  }
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: `/api/v1${path}`,
        method: 'POST',
        localAddress: from,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Every address sends `perAddress` requests; `parallel` in flight at once. Returns the status counts. */
async function flood(
  send: (from: string, i: number) => Promise<Reply>,
  perAddress = PER_ADDRESS,
  parallel = 64,
): Promise<{ counts: Record<number, number>; sample429?: Reply }> {
  const jobs: Array<[string, number]> = [];
  for (let i = 0; i < perAddress; i++) for (let a = 0; a < ADDRESSES; a++) jobs.push([`127.0.1.${a + 1}`, i]);
  const counts: Record<number, number> = {};
  let sample429: Reply | undefined;
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < jobs.length) {
        const [from, i] = jobs[next++]!;
        const reply = await send(from, i);
        counts[reply.status] = (counts[reply.status] ?? 0) + 1;
        if (reply.status === 429) sample429 ??= reply;
      }
    }),
  );
  return { counts, ...(sample429 ? { sample429 } : {}) };
}

describe('phone endpoints under a LAN flood', () => {
  it("cannot evict a phone's challenge: 12,000 challenge requests from 200 addresses, then the phone opens the door", async () => {
    // A long lifetime so a slow machine cannot let the phone's challenge simply expire during the flood.
    const { phone, port } = await building({ mobile: { challengeSeconds: 300 } });
    const mine = await post(port, '127.0.0.250', '/mobile/challenge', { door: 'front' });
    expect(mine.status).toBe(200);

    const { counts, sample429 } = await flood((from) =>
      post(port, from, '/mobile/challenge', { door: 'front' }),
    );
    expect((counts[200] ?? 0) + (counts[429] ?? 0)).toBe(ADDRESSES * PER_ADDRESS);
    // Over budget is answered at once with 429 and when to come back, not queued and not evicting.
    expect(counts[429]).toBeGreaterThan(0);
    expect(Number(sample429!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(sample429!.body).toMatchObject({ reason: 'rate_limited' });

    const response = phone.answer(String(mine.body.challenge), 'front');
    const answered = await post(port, '127.0.0.250', '/mobile/respond', { door: 'front', response });
    expect(answered.body).toMatchObject({ granted: true, reason: 'granted' });
    await until('door unlocked', () => hub!.doors.get('front')?.status().lock === 'unlocked');
    // Still single use.
    const replay = await post(port, '127.0.0.250', '/mobile/respond', { door: 'front', response });
    expect(replay.body).toMatchObject({ granted: false, reason: 'invalid_request' });
    expect(String(replay.body.error)).toMatch(/already used/);
  }, 120_000);

  it('writes O(1) events for 3,000 refused responses from 200 addresses, and still records a real decision', async () => {
    // Budgets per address opened wide: only the event budget is under test here.
    const { phone, port } = await building({
      mobile: { requestsPerMinutePerAddress: 100_000, burstPerAddress: 10_000 },
    });
    const before = hub!.store.events.list({ limit: 1000 }).length;
    const forged = Buffer.alloc(32, 9).toString('base64url');
    const { counts } = await flood(
      (from, i) =>
        post(port, from, '/mobile/respond', {
          door: 'front',
          // Alternating garbage and well-formed answers to challenges the hub never issued.
          response: i % 2 ? 'Zm9v' : phone.answer(forged, 'front'),
        }),
      RESPONSES_PER_ADDRESS,
    );
    expect(counts[200]).toBe(ADDRESSES * RESPONSES_PER_ADDRESS);

    const challenge = await post(port, '127.0.0.250', '/mobile/challenge', { door: 'front' });
    const granted = await post(port, '127.0.0.250', '/mobile/respond', {
      door: 'front',
      response: phone.answer(String(challenge.body.challenge), 'front'),
    });
    expect(granted.body).toMatchObject({ granted: true });
    hub!.store.events.flush();
    const all = hub!.store.events.list({ limit: 1000 });
    const during = all.slice(0, all.length - before);
    const decisions = during.filter((e) => e.type === 'decision');
    // A handful of refusals recorded (per door and minute), and the real decision.
    expect(decisions.filter((e) => e.data.granted === false).length).toBeLessThanOrEqual(5);
    expect(decisions.filter((e) => e.data.granted === true)).toHaveLength(1);
    expect(during.length).toBeLessThanOrEqual(10);

    // The rest is one summary event, written when its minute ends (or, as here, at shutdown).
    await hub!.stop();
    hub = null;
    const opened = openHubStore(dir);
    try {
      const summaries = opened.store.events.list({ type: 'mobile.refused', limit: 10 });
      expect(summaries).toHaveLength(1);
      expect(summaries[0]).toMatchObject({
        doorId: 'front',
        data: { refused: ADDRESSES * RESPONSES_PER_ADDRESS - 5 },
      });
    } finally {
      opened.close();
    }
  }, 120_000);
});
