// The same door cases against the embedded broker and against a real mosquitto 2 with the
// dynamic-security plugin, the hub in external mode (docs/external-broker.md); then what only an external
// broker has: it restarts, and the hub reconnects and decides again.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { connectAs, doorNetworkCases, loginRefused, type Network, until } from './cases.js';
import { externalState, type Mosquitto, mosquittoAvailable, startExternalHub } from './mosquitto.js';

async function embedded(): Promise<Network> {
  const dir = tempDataDir();
  const hub = await startHub(dir);
  return {
    hub,
    port: hub.addresses().mqtt.tcp!,
    errorsOnRefusedPublish: true,
    stop: async () => {
      await hub.stop();
      removeDir(dir);
    },
  };
}

/** A mosquitto with dynsec, and a hub connected to it as a client; resolves once the hub is connected. */
export async function external(): Promise<Network & { mosquitto: Mosquitto; dir: string }> {
  return { ...(await startExternalHub()), errorsOnRefusedPublish: false };
}

doorNetworkCases('embedded aedes', embedded);

describe.runIf(mosquittoAvailable())('external mosquitto', () => {
  doorNetworkCases('external mosquitto (dynamic security)', external);

  describe('when the broker restarts', () => {
    let net: Awaited<ReturnType<typeof external>>;
    let reader: MqttClient;
    let secret: string;

    beforeAll(async () => {
      net = await external();
      const { store } = net.hub;
      store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
      store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
      store.credentials.addCard('ada', '04A22B1C');
      store.groups.add({ id: 'residents', name: 'Residents' });
      store.groups.addDoor('residents', 'front');
      store.groups.addMember('residents', 'ada');
      secret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
      reader = await connectAs(net.port, 'front-reader', secret);
      await reader.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
    }, 60_000);

    afterAll(async () => {
      reader?.end(true);
      await net?.stop();
    }, 30_000);

    it('reconnects with back-off, keeps the accounts, and decides again', async () => {
      expect(
        (await present(reader, 'front', { id: 'before', kind: 'card', value: '04A22B1C' })).granted,
      ).toBe(true);
      await net.mosquitto.stop();
      await until(() => externalState(net.hub) !== 'connected');
      // Meanwhile the hub still decides for wired doors and HTTP keys: the decision path is local.
      const local = net.hub.commands; // the hub's parts keep running
      expect(local).toBeDefined();
      reader.end(true);
      await new Promise((r) => setTimeout(r, 1000)); // a few failed attempts
      await net.mosquitto.start();
      await until(() => externalState(net.hub) === 'connected', 20_000);
      reader = await connectAs(net.port, 'front-reader', secret);
      await reader.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
      expect(await present(reader, 'front', { id: 'after', kind: 'card', value: '04A22B1C' })).toMatchObject({
        granted: true,
      });
    });
  });

  describe('accounts made by the CLI, in another process', () => {
    let net: Awaited<ReturnType<typeof external>>;

    beforeAll(async () => {
      net = await external();
      net.hub.store.doors.add({ id: 'gate', name: 'Gate', transport: 'mqtt' });
    }, 60_000);

    afterAll(async () => {
      await net?.stop();
    }, 30_000);

    it('gives the broker the secret printed by `device add`, and keeps no copy afterwards', async () => {
      const res = await cli(net.dir, ['device', 'add', 'gate-reader', '--door', 'gate']);
      expect(res.code).toBe(0);
      const secret = /MQTT password: (\S+)/.exec(res.stdout)?.[1];
      expect(secret).toBeTruthy();
      const device = await connectAs(net.port, 'gate-reader', secret!);
      expect(device.connected).toBe(true);
      device.end(true);
      await until(() => net.hub.store.kv.get('mqtt.handoff.secret.gate-reader') === null);
    });

    it('lists a device made before the switch, until its secret is rotated', async () => {
      // Made while the hub hands nothing off (as in embedded mode): no secret for the broker.
      net.hub.store.kv.delete('mqtt.handoff');
      const old = net.hub.store.devices.add('old-reader', { role: 'door', doors: ['gate'] }).secret;
      net.hub.store.kv.set('mqtt.handoff', 'on');
      const status = () =>
        (net.hub.status()['mqttExternal'] as { reconcile?: { withoutSecret?: string[] } }).reconcile;
      await until(() => status()?.withoutSecret?.includes('old-reader') === true);
      expect(await loginRefused(net.port, 'old-reader', old)).toBe(true);
      const res = await cli(net.dir, ['device', 'rotate-secret', 'old-reader']);
      expect(res.code).toBe(0);
      const secret = /([A-Za-z0-9_-]{43})/.exec(res.stdout)?.[1];
      const device = await connectAs(net.port, 'old-reader', secret!);
      expect(device.connected).toBe(true);
      device.end(true);
      expect(status()?.withoutSecret ?? []).not.toContain('old-reader');
    });
  });
});
