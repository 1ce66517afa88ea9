// The Gatehouse Node-RED nodes in a real Node-RED 4.1 (a child process, as the hub runs it) against a real
// hub with a simulated door, connected with a real integration account: events arrive from the door, the
// door node unlocks and is refused what the hub's policy refuses, lookup gives no secrets, a code from the
// code node opens the door at the simulated keypad, and every example flow deploys with known node types
// (and the e-mail, doorbell and held-open examples do their job as they are).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { ADMIN } from '../commands/helpers.js';
import { connectDevice, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call } from '../http/client.js';
import { CONFIG, endpoint, type FlowNode, fn, gatehouse, httpGet, respond, tab } from './flow-builder.js';
import { FLOWS_PACKAGE, type NodeRed, startNodeRed, waitFor } from './nodered.js';

type Answer =
  | { ok: true; result: Record<string, unknown> }
  | { ok: false; error: { code: string; message: string } };

const ACCOUNT = 'nr-test';
const CARD = '04C0FFEE1234';
const PIN = '7355608';

function testFlows(): FlowNode[] {
  return [
    tab(),
    CONFIG,
    // Every decision at sim-front, kept in flow context; GET /t/events reads them.
    gatehouse('events', 'gatehouse-event', { types: 'decision', doors: 'sim-front' }, ['collect']),
    fn(
      'collect',
      "const seen = flow.get('events') || []; seen.push({ topic: msg.topic, door: msg.door, payload: msg.payload }); flow.set('events', seen.slice(-100)); return null;",
    ),
    httpGet('events-in', '/t/events', 'events-read'),
    fn('events-read', "msg.payload = flow.get('events') || []; return msg;", ['events-reply']),
    respond('events-reply'),
    ...endpoint(
      'door',
      (id, next) => gatehouse(id, 'gatehouse-door', { door: '', action: 'msg', ms: '' }, next),
      ['door', 'action', 'reason'],
    ),
    ...endpoint(
      'person',
      (id, next) => gatehouse(id, 'gatehouse-lookup', { what: 'person', person: '' }, next),
      ['person'],
    ),
    ...endpoint('doors', (id, next) =>
      gatehouse(id, 'gatehouse-lookup', { what: 'doors', person: '' }, next),
    ),
    ...endpoint('code', (id, next) =>
      gatehouse(id, 'gatehouse-code', { kind: 'msg', doors: '', person: '', hours: '' }, next),
    ),
    // 60 door lists at once: more than a connection may have waiting (50).
    ...endpoint('burst', (id) => ({
      ...fn(id, 'return [Array.from({ length: 60 }, (_, i) => ({ ...msg, part: i }))];', ['burst-lookup']),
    })).map((n) =>
      n.id === 'burst-out'
        ? {
            ...n,
            type: 'join',
            mode: 'custom',
            build: 'array',
            property: 'payload',
            propertyType: 'msg',
            key: 'topic',
            joiner: '\\n',
            joinerType: 'str',
            accumulate: false,
            timeout: '20',
            count: '60',
            reduceRight: false,
            useparts: false,
          }
        : n,
    ),
    gatehouse('burst-lookup', 'gatehouse-lookup', { what: 'doors', person: '' }, ['burst-out']),
  ];
}

describe('Gatehouse nodes in Node-RED against a real hub', () => {
  let dir: string;
  let hub: Hub;
  let red: NodeRed;
  let httpPort: number;
  let staffToken: string;
  let password: string;

  const post = async (name: string, body: Record<string, unknown>) => {
    const r = await red.http('POST', `/t/${name}`, body);
    expect(r.status, r.text).toBe(200);
    return r.json as { answer: Answer } & Record<string, unknown>;
  };
  const atKeypad = async (value: string) => {
    const r = await call(httpPort, 'POST', '/sim/doors/sim-front/code', {
      token: staffToken,
      body: { value },
    });
    expect(r.status).toBe(200);
    return r.json.decision as { granted: boolean; reason: string };
  };

  beforeAll(async () => {
    dir = tempDataDir();
    // A battery-backed clock: the hub trusts its time, so time-bound doorcodes work (docs/trusted-time.md).
    hub = await startHub(dir, {
      simulation: { door: 'sim-front' },
      offline: { clock: { rtc: true, ntpCheck: false } },
      doors: { heldOpenMs: 5000 }, // the simulated door made at first boot raises alarm.held_open after 5 s
    });
    httpPort = hub.addresses().http.http!;
    const admin = (name: string, input: unknown) => hub.commands.execute(name, input, ADMIN);
    for (const id of ['gym', 'roof']) await admin('door.add', { id, transport: 'mqtt' });
    await admin('unit.add', { id: '4b', name: 'Flat 4B' });
    await admin('person.add', { id: 'ada', name: 'Ada Lovelace', kind: 'resident', unitId: '4b' });
    await admin('person.add', { id: 'bob', name: 'Bob Suspended', kind: 'resident' });
    await admin('group.add', { id: 'residents', name: 'Residents' });
    await admin('group.add_door', { id: 'residents', doorId: 'sim-front' });
    for (const p of ['ada', 'bob']) await admin('group.add_member', { id: 'residents', personId: p });
    await admin('credential.add_card', { personId: 'ada', card: CARD });
    await admin('credential.add_pin', { personId: 'ada', pin: PIN });
    await admin('person.suspend', { id: 'bob', reason: 'test' });
    password = hub.store.devices.add(ACCOUNT, {
      role: 'integration',
      doors: ['sim-front', 'gym'],
      grants: ['people.read', 'codes.issue'],
    }).secret;
    await hub.store.users.add('ivy', 'a long staff password', 'staff');
    const login = await call(httpPort, 'POST', '/session', {
      body: { username: 'ivy', password: 'a long staff password' },
    });
    staffToken = login.json.token as string;

    red = await startNodeRed({
      url: `mqtt://127.0.0.1:${hub.addresses().mqtt.tcp}`,
      username: ACCOUNT,
      password,
      baseTopic: 'gatehouse',
    });
    expect(await red.deploy(testFlows())).toBe(204);
    // Connected once a request gets its answer.
    await waitFor(async () => {
      const r = await red.http('POST', '/t/doors', {});
      return r.status === 200 && (r.json as { answer: Answer }).answer.ok;
    }, 'the nodes connected to the hub');
  }, 180_000);

  afterAll(async () => {
    await red?.stop();
    await hub?.stop();
    removeDir(dir);
  }, 60_000);

  it('the event node hears a real decision from the simulated door', async () => {
    expect(await atKeypad('000000')).toMatchObject({ granted: false });
    const events = await waitFor(async () => {
      const r = await red.http('GET', '/t/events');
      const list = r.json as Array<{ topic: string; door: string; payload: Record<string, unknown> }>;
      return list.length > 0 ? list : null;
    }, 'a decision at the event node');
    expect(events[0]).toEqual({
      topic: 'decision',
      door: 'sim-front',
      payload: {
        type: 'decision',
        door: 'sim-front',
        kind: 'keypad',
        granted: false,
        reason: expect.any(String),
      },
    });
  });

  it('the door node unlocks the door, and is refused in lockdown, which it cannot lift', async () => {
    const sim = hub.simDoors.get('sim-front')!;
    const before = sim.relay.history.length;
    expect(sim.isUnlocked()).toBe(false);
    const unlocked = await post('door', { door: 'sim-front', action: 'unlock', ms: 2000 });
    expect(unlocked.answer).toEqual({ ok: true, result: { ok: true, ms: 2000 } });
    expect(unlocked).toMatchObject({ door: 'sim-front', action: 'unlock' });
    // The lock was released (the relay moved) and locks again after the 2 s.
    await waitFor(() => sim.relay.history.length > before, 'the relay moved');
    expect(sim.isUnlocked()).toBe(true);
    await waitFor(() => !sim.isUnlocked(), 'the door locked again', 10_000);
    const audit = hub.store.events.list({ type: 'admin.door.unlocked', limit: 1 })[0]!;
    expect(audit.data).toMatchObject({ actor: `device:${ACCOUNT}`, ms: 2000, reason: 'Node-RED: door-node' });

    expect((await post('door', { door: 'sim-front', action: 'lockdown' })).answer).toEqual({
      ok: true,
      result: { ok: true, mode: 'lockdown' },
    });
    const refused = (await post('door', { door: 'sim-front', action: 'unlock' })).answer;
    expect(refused).toEqual({
      ok: false,
      error: { code: 'refused', message: expect.stringContaining('lockdown') },
    });
    for (const action of ['normal', 'keep-unlocked']) {
      const lift = (await post('door', { door: 'sim-front', action })).answer;
      expect(lift, action).toMatchObject({ ok: false, error: { code: 'refused' } });
    }
    expect(hub.store.doors.get('sim-front')!.mode).toBe('lockdown');
    await hub.commands.execute('door.set_mode', { id: 'sim-front', mode: 'normal' }, ADMIN);
  });

  it('the door node is forbidden a door outside the account, and refuses bad input itself', async () => {
    expect((await post('door', { door: 'roof', action: 'unlock' })).answer).toEqual({
      ok: false,
      error: { code: 'forbidden', message: expect.stringContaining("door 'roof'") },
    });
    expect(hub.store.doors.get('roof')!.mode).toBe('normal');
    for (const body of [
      { action: 'unlock' },
      { door: '../x', action: 'unlock' },
      { door: 'sim-front', action: 'open' },
      { door: 'sim-front', action: '__proto__' },
      { door: 'sim-front', action: 'unlock', ms: 10 },
      { door: 'sim-front', action: 'unlock', ms: '5000' },
    ]) {
      expect((await post('door', body)).answer, JSON.stringify(body)).toMatchObject({
        ok: false,
        error: { code: 'invalid' },
      });
    }
  });

  it('the lookup node tells who a person is and never a PIN, card or code', async () => {
    await hub.commands.execute('code.issue', { personId: 'ada', doors: 'sim-front', kind: 'daily' }, ADMIN);
    const found = await post('person', { personId: 'ada' });
    expect(found.answer).toEqual({
      ok: true,
      result: {
        people: [
          {
            id: 'ada',
            name: 'Ada Lovelace',
            kind: 'resident',
            unit: { id: '4b', name: 'Flat 4B' },
            status: 'active',
            groups: [{ id: 'residents', name: 'Residents' }],
            accessWindow: { from: null, until: null },
          },
        ],
      },
    });
    expect(found.person).toEqual(
      (found.answer as unknown as { result: { people: unknown[] } }).result.people[0],
    );
    const text = JSON.stringify(found) + JSON.stringify(await post('person', { query: 'a' }));
    for (const secret of [CARD, CARD.slice(-4), PIN, 'oc-', 'credential', 'digits'])
      expect(text).not.toContain(secret);
    expect((await post('person', { query: 'suspended' })).answer).toMatchObject({
      ok: true,
      result: { people: [{ id: 'bob', status: 'suspended' }] },
    });
    expect((await post('person', { personId: 'nobody' })).answer).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    const doors = (await post('doors', {})).answer as { ok: true; result: { doors: Array<{ id: string }> } };
    expect(doors.result.doors.map((d) => d.id).sort()).toEqual(['gym', 'sim-front']);
  });

  it('the code node issues a code that opens the door at the simulated keypad; never for a suspended person', async () => {
    const issued = (await post('code', { personId: 'ada', doors: 'sim-front', kind: 'daily' })).answer as {
      ok: true;
      result: { code: { digits: string; serial: string } };
    };
    expect(issued.ok).toBe(true);
    const { digits, serial } = issued.result.code;
    expect(hub.store.events.list({ type: 'admin.code.issued', limit: 1 })[0]!.data).toMatchObject({
      serial,
      actor: `device:${ACCOUNT}`,
    });
    expect(await atKeypad(digits)).toEqual({ granted: true, reason: 'granted' });
    expect((await post('code', { personId: 'bob', doors: 'sim-front', kind: 'daily' })).answer).toMatchObject(
      {
        ok: false,
        error: { code: 'refused', message: expect.stringContaining('suspended') },
      },
    );
    expect((await post('code', { personId: 'ada', doors: 'site', kind: 'daily' })).answer).toMatchObject({
      ok: false,
      error: { code: 'forbidden', message: expect.stringContaining('whole site') },
    });
    expect(
      (await post('code', { personId: 'ada', doors: 'gym', kind: 'window', hours: 2 })).answer,
    ).toMatchObject({
      ok: false,
      error: { code: 'refused', message: expect.stringContaining('no access') },
    });
    // Neither the digits nor the account's secret ever reach Node-RED's log.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const log = red.output.join('\n');
    expect(log).not.toContain(digits);
    expect(log).not.toContain(password);
  });

  it('answers over its bound at once with busy, and the hub keeps the account connected', async () => {
    await new Promise((resolve) => setTimeout(resolve, 5000)); // the request budget refills
    const burst = await red.http('POST', '/t/burst', {});
    expect(burst.status, burst.text).toBe(200);
    const answers = burst.json as Answer[];
    expect(answers).toHaveLength(60);
    const codes = answers.map((a) => (a.ok ? 'ok' : a.error.code));
    expect(codes.filter((c) => c === 'busy').length).toBeGreaterThanOrEqual(10);
    expect(codes.filter((c) => c === 'ok').length).toBeGreaterThanOrEqual(1);
    expect(new Set(codes)).toEqual(new Set(['ok', 'busy']));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await post('doors', {})).answer.ok).toBe(true);
    expect(hub.store.events.list({ type: 'device.rejected', limit: 10 })).toEqual([]);
  });

  it('every example flow deploys with node types this Node-RED knows', async () => {
    const dirOf = path.join(FLOWS_PACKAGE, 'examples');
    const files = readdirSync(dirOf).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual([
      'daily-alarm-summary.json',
      'doorbell-chime.json',
      'email-todays-code.json',
      'held-open-notification.json',
      'lockdown-button.json',
      'scheduled-amenity-unlock.json',
    ]);
    const all = new Map<string, FlowNode>();
    for (const file of files) {
      for (const node of JSON.parse(readFileSync(path.join(dirOf, file), 'utf8')) as FlowNode[]) {
        const seen = all.get(node.id);
        // The one shared config node is the same in every example; every other id is unique.
        if (seen) expect(node, `${file}: ${node.id}`).toEqual(seen);
        all.set(node.id, node);
      }
    }
    // Node-RED lists them under Import → Examples → node-red-contrib-gatehouse.
    const listed = await red.admin('GET', '/library/examples/flows/node-red-contrib-gatehouse/');
    expect(listed.status).toBe(200);
    for (const file of files) expect(JSON.stringify(listed.json)).toContain(file.replace(/\.json$/, ''));
    const known = new Set(
      ((await red.admin('GET', '/nodes')).json as Array<{ types: string[] }>).flatMap((set) => set.types),
    );
    known.add('tab');
    expect([...all.values()].filter((n) => !known.has(n.type)).map((n) => n.type)).toEqual([]);
    const before = red.output.length;
    // The debug nodes also print to Node-RED's log here, so the test reads what each example would show.
    const deployed = [...all.values()].map((n) => (n.type === 'debug' ? { ...n, console: true } : n));
    expect(await red.deploy(deployed)).toBe(204);
    await waitFor(
      () => red.output.slice(before).some((l) => /Started flows/.test(l)),
      'the examples started',
      30_000,
      () => red.output.slice(before).join('\n'),
    );
    expect(red.output.slice(before).filter((l) => /\[error\]|missing types/i.test(l))).toEqual([]);

    // "E-mail today's code" runs as it is: its inject node asks for Ada's code, its dummy mail node says so.
    await new Promise((resolve) => setTimeout(resolve, 3000)); // the burst above used the request budget
    expect((await red.admin('POST', '/inject/gh-ex-code-in')).status).toBe(200);
    await waitFor(
      () => red.output.some((l) => l.includes('would send "Your door code for today" to ada@example.org')),
      'the dummy mail node',
      30_000,
      () => red.output.slice(before).join('\n'),
    );
    expect(hub.store.events.list({ type: 'admin.code.issued', limit: 1 })[0]!.data).toMatchObject({
      actor: `device:${ACCOUNT}`,
    });

    // "Doorbell chime": a door controller rings at the gym door.
    const { secret } = hub.store.devices.add('gym-ctl', { role: 'door', doors: ['gym'] });
    const controller = await connectDevice(hub.addresses().mqtt.tcp!, 'gym-ctl', secret);
    try {
      await controller.publishAsync('gatehouse/door/gym/event', JSON.stringify({ type: 'doorbell' }), {
        qos: 1,
      });
      await waitFor(
        () => red.output.some((l) => l.includes('ding dong: someone at gym')),
        'the chime',
        30_000,
        () => red.output.slice(before).join('\n'),
      );
    } finally {
      await controller.endAsync();
    }

    // "Held-open notification": Ada's PIN opens sim-front, the door stays open past its 5 s, then closes.
    const sim = hub.simDoors.get('sim-front')!;
    expect(await atKeypad(PIN)).toEqual({ granted: true, reason: 'granted' });
    sim.open();
    try {
      await waitFor(
        () => red.output.some((l) => /Door sim-front has been open for [0-9]+ s: please check it\./.test(l)),
        'the held-open notice',
        30_000,
        () => red.output.slice(before).join('\n'),
      );
    } finally {
      sim.close();
    }
    await waitFor(
      () => red.output.some((l) => /Door sim-front closed after [0-9]+ s\./.test(l)),
      'the closed-again notice',
      30_000,
      () => red.output.slice(before).join('\n'),
    );
  }, 120_000);
});

describe('Gatehouse nodes in a Node-RED not started by Gatehouse', () => {
  let red: NodeRed;
  beforeAll(async () => {
    red = await startNodeRed(null);
  }, 120_000);
  afterAll(async () => {
    await red?.stop();
  }, 30_000);

  it('say so, and answer every request unavailable', async () => {
    expect(
      await red.deploy([
        tab(),
        CONFIG,
        ...endpoint('door', (id, next) =>
          gatehouse(id, 'gatehouse-door', { door: 'front', action: 'unlock', ms: '' }, next),
        ),
      ]),
    ).toBe(204);
    const r = await waitFor(async () => {
      const answer = await red.http('POST', '/t/door', {});
      return answer.status === 200 ? answer : null;
    }, 'the flow started');
    expect((r.json as { answer: Answer }).answer).toEqual({
      ok: false,
      error: { code: 'unavailable', message: expect.stringContaining('no connection') },
    });
    expect(red.output.some((l) => l.includes('not running under Gatehouse'))).toBe(true);
  });
});
