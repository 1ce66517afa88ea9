// The Gatehouse nodes in the hub's own Node-RED (hub/nodered: the supervised child, the hub-node-red
// account handed over in its settings, flows/ loaded by default): a denied code at the simulated door
// reaches an event node, whose flow locks the door down through a door node; the flow's attempt to lift
// the lockdown is refused by the hub. Deployed through the admin API with the hub's token.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { createLogger } from '../../hub/logger.js';
import type { NodeRedTarget } from '../../hub/nodered/target.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call } from '../http/client.js';
import { nodeRedAdmin } from '../nodered/admin-api.js';
import { CONFIG, type FlowNode, fn, gatehouse, tab } from './flow-builder.js';
import { waitFor } from './nodered.js';

const inject = (id: string, next: string): FlowNode => ({
  id,
  type: 'inject',
  z: 'test-tab',
  name: id,
  props: [{ p: 'payload' }],
  repeat: '',
  crontab: '',
  once: false,
  onceDelay: 0.1,
  topic: '',
  payload: '',
  payloadType: 'date',
  x: 100,
  y: 100,
  wires: [[next]],
});

/** Each answer is written to the hub log by a function node: `flow-answer <name> <json>`. */
const report = (id: string, name: string) =>
  fn(id, `node.warn('flow-answer ${name} ' + JSON.stringify(msg.payload)); return null;`);

describe("the Gatehouse nodes in the hub's own Node-RED", () => {
  let dir: string;
  let hub: Hub;
  let target: NodeRedTarget;
  const logs: string[] = [];

  const admin = (method: string, route: string, body?: unknown) => nodeRedAdmin(target, method, route, body);
  const answer = (name: string) =>
    waitFor(
      () => {
        const line = logs.find((l) => l.includes(`flow-answer ${name} `));
        return line ? line : null;
      },
      `the flow's answer '${name}'`,
      30_000,
      () => logs.slice(-20).join(''),
    );

  beforeAll(async () => {
    dir = tempDataDir();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    hub = await startHub(
      dir,
      { simulation: { door: 'sim-front' }, nodeRed: { enabled: true } },
      { logger: createLogger('info', sink) },
    );
    target = await waitFor(
      () => {
        const status = hub.status().nodeRed as { state: string };
        return status.state === 'running' ? hub.nodeRed?.target() : null;
      },
      'Node-RED running',
      120_000,
      () => JSON.stringify(hub.status().nodeRed),
    );
    const flows: FlowNode[] = [
      tab(),
      CONFIG,
      inject('ready', 'ready-doors'),
      gatehouse('ready-doors', 'gatehouse-lookup', { what: 'doors', person: '' }, ['ready-report']),
      report('ready-report', 'ready'),
      // A denied code at the door: lock it down.
      gatehouse('denied', 'gatehouse-event', { types: 'decision', doors: 'sim-front' }, ['only-denied']),
      fn('only-denied', 'return msg.payload.granted ? null : msg;', ['lock-down']),
      gatehouse(
        'lock-down',
        'gatehouse-door',
        { door: 'sim-front', action: 'lockdown', ms: '', reason: '' },
        ['lockdown-report'],
      ),
      report('lockdown-report', 'lockdown'),
      inject('lift', 'lift-door'),
      gatehouse('lift-door', 'gatehouse-door', { door: 'sim-front', action: 'normal', ms: '', reason: '' }, [
        'lift-report',
      ]),
      report('lift-report', 'lift'),
    ];
    expect((await admin('POST', '/flows/flows', flows)).status).toBe(204);
    // Connected once a request through the nodes is answered.
    await waitFor(
      async () => {
        await admin('POST', '/flows/inject/ready');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return logs.some((l) => l.includes('flow-answer ready {\\"ok\\":true'));
      },
      'the Gatehouse nodes connected with the hub-node-red account',
      60_000,
      () => logs.slice(-20).join(''),
    );
  }, 240_000);

  afterAll(async () => {
    await hub?.stop();
    removeDir(dir);
  }, 60_000);

  it('an event node hears a denied code and its flow locks the door down; lifting it is refused', async () => {
    await hub.store.users.add('ivy', 'a long staff password', 'staff');
    const port = hub.addresses().http.http!;
    const login = await call(port, 'POST', '/session', {
      body: { username: 'ivy', password: 'a long staff password' },
    });
    const typed = await call(port, 'POST', '/sim/doors/sim-front/code', {
      token: login.json.token as string,
      body: { value: '000000' },
    });
    expect(typed.json.decision).toMatchObject({ granted: false });

    expect(await answer('lockdown')).toContain(
      '{\\"ok\\":true,\\"result\\":{\\"ok\\":true,\\"mode\\":\\"lockdown\\"}}',
    );
    expect(hub.store.doors.get('sim-front')!.mode).toBe('lockdown');
    const changed = hub.store.events.list({ type: 'admin.door.mode_changed', limit: 1 })[0]!;
    expect(changed.data).toMatchObject({ actor: 'device:hub-node-red' });

    expect((await admin('POST', '/flows/inject/lift')).status).toBe(200);
    expect(await answer('lift')).toContain('\\"code\\":\\"refused\\"');
    expect(hub.store.doors.get('sim-front')!.mode).toBe('lockdown');
    expect(logs.join('')).not.toContain('not running under Gatehouse');
  });
});
