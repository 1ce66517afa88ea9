// Node-RED with the device network on a real mosquitto 2 + dynamic security (docs/external-broker.md,
// docs/installer-flows.md): the hub points its Node-RED at the external broker, the hub-node-red secret it
// rotates at start reaches dynsec through the secret hand-off, and a Gatehouse node's bridge request is
// answered through mosquitto.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../hub/logger.js';
import { brokerConnection, NODE_RED_ACCOUNT } from '../../hub/nodered/account.js';
import type { NodeRedTarget } from '../../hub/nodered/target.js';
import { CONFIG, type FlowNode, fn, gatehouse, tab } from '../flows/flow-builder.js';
import { waitFor } from '../flows/nodered.js';
import { testConfig } from '../helpers/hub.js';
import { nodeRedAdmin } from '../nodered/admin-api.js';
import { type ExternalRig, mosquittoAvailable, startExternalHub } from './mosquitto.js';

describe('brokerConnection with an external broker', () => {
  const mqttOf = (url: string) => {
    const config = testConfig('/tmp/unused', {
      mqtt: { broker: 'external', external: { url } },
    }) as { mqtt: Parameters<typeof brokerConnection>[0] };
    return config.mqtt;
  };

  it('points Node-RED at mqtt.external.url with the CA the hub trusts there', () => {
    const tls = brokerConnection(mqttOf('mqtts://broker.site.example:8883'), {}, 'HUB CA', {
      externalCaPem: () => 'OPERATOR CA',
    });
    expect(tls).toEqual({
      url: 'mqtts://broker.site.example:8883',
      username: NODE_RED_ACCOUNT,
      baseTopic: 'gatehouse',
      ca: 'OPERATOR CA',
    });
    expect(brokerConnection(mqttOf('mqtt://127.0.0.1:1883'), { tcp: 1883 }, 'HUB CA')).toEqual({
      url: 'mqtt://127.0.0.1:1883',
      username: NODE_RED_ACCOUNT,
      baseTopic: 'gatehouse',
    });
  });

  it('gives Node-RED no connection when the CA file cannot be read', () => {
    const unreadable = () => {
      throw new Error('ENOENT');
    };
    expect(
      brokerConnection(mqttOf('mqtts://broker.site.example:8883'), {}, 'HUB CA', {
        externalCaPem: unreadable,
      }),
    ).toBeNull();
  });
});

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

describe.runIf(mosquittoAvailable())("the hub's own Node-RED on an external mosquitto", () => {
  let rig: ExternalRig;
  let target: NodeRedTarget;
  const logs: string[] = [];
  const admin = (method: string, route: string, body?: unknown) => nodeRedAdmin(target, method, route, body);

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    rig = await startExternalHub(
      { simulation: { door: 'sim-front' }, nodeRed: { enabled: true } },
      { logger: createLogger('info', sink) },
    );
    target = await waitFor(
      () => {
        const status = rig.hub.status().nodeRed as { state: string };
        return status.state === 'running' ? rig.hub.nodeRed?.target() : null;
      },
      'Node-RED running',
      120_000,
      () => JSON.stringify(rig.hub.status().nodeRed),
    );
  }, 240_000);

  afterAll(async () => {
    await rig?.stop();
  }, 60_000);

  it('the rotated hub-node-red secret reaches dynsec and leaves no sealed copy', async () => {
    await waitFor(
      () => (rig.hub.store.kv.get(`mqtt.handoff.secret.${NODE_RED_ACCOUNT}`) === null ? true : null),
      'the hand-off delivered',
      15_000,
    );
    const reconcile = (rig.hub.status()['mqttExternal'] as { reconcile?: { withoutSecret?: string[] } })
      .reconcile;
    expect(reconcile?.withoutSecret ?? []).not.toContain(NODE_RED_ACCOUNT);
  });

  it("a Gatehouse node's bridge request is answered through mosquitto, as device:hub-node-red", async () => {
    const flows: FlowNode[] = [
      tab(),
      CONFIG,
      inject('ready', 'ready-doors'),
      gatehouse('ready-doors', 'gatehouse-lookup', { what: 'doors', person: '' }, ['ready-report']),
      fn('ready-report', `node.warn('flow-answer ready ' + JSON.stringify(msg.payload)); return null;`),
      inject('lock', 'lock-door'),
      gatehouse(
        'lock-door',
        'gatehouse-door',
        { door: 'sim-front', action: 'lockdown', ms: '', reason: '' },
        ['lock-report'],
      ),
      fn('lock-report', `node.warn('flow-answer lock ' + JSON.stringify(msg.payload)); return null;`),
    ];
    expect((await admin('POST', '/flows/flows', flows)).status).toBe(204);
    await waitFor(
      async () => {
        await admin('POST', '/flows/inject/ready');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return logs.some((l) => l.includes('flow-answer ready {\\"ok\\":true')) ? true : null;
      },
      'the Gatehouse nodes connected to mosquitto with the hub-node-red account',
      60_000,
      () => logs.slice(-20).join(''),
    );
    // The first answers may be `unavailable` (still logging in): the one that succeeded lists the door.
    expect(logs.find((l) => l.includes('flow-answer ready {\\"ok\\":true'))).toContain('sim-front');
    expect((await admin('POST', '/flows/inject/lock')).status).toBe(200);
    await waitFor(
      () => (rig.hub.store.doors.get('sim-front')?.mode === 'lockdown' ? true : null),
      'lockdown from the flow',
      15_000,
      () => logs.slice(-20).join(''),
    );
    const changed = rig.hub.store.events.list({ type: 'admin.door.mode_changed', limit: 1 })[0]!;
    // One integration account on the broker: the hub knows it is hub-node-red (docs/external-broker.md §2).
    expect(changed.data).toMatchObject({ actor: `device:${NODE_RED_ACCOUNT}` });
  });
});
