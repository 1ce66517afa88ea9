// The hub in external mode on mqtts (issue #14): mosquitto listens with TLS, with the hub's own server
// certificate (docs/external-broker.md §3.3, copied as the docs say) or with one of an operator's CA
// (mqtt.external.caFile, made here with openssl). The hub verifies the broker's chain and name and a door
// device on TLS gets its decision; a wrong CA, an expired or a wrong-name certificate is refused, the
// log says why, and the hub never falls back to plain MQTT.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { until } from './cases.js';
import { freePort, Mosquitto, mosquittoAvailable } from './mosquitto.js';

const HUB_USER = 'gatehouse-hub';
const HUB_PASSWORD = 'hub-password-for-tls-tests';

/** An operator's CA and server certificates signed by it, made with openssl as an operator would. */
class OperatorCa {
  readonly dir: string;
  readonly crt: string;
  readonly #key: string;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.crt = path.join(dir, 'ca.crt');
    this.#key = path.join(dir, 'ca.key');
    openssl(dir, [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', this.#key, '-out', this.crt, '-days', '30', '-subj', '/CN=Operator test CA'],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'],
    ]);
  }

  /** A server certificate for `names` (openssl SAN syntax); `days` -1 makes one that expired yesterday. */
  server(name: string, names: string, days = 30): { certFile: string; keyFile: string } {
    const keyFile = path.join(this.dir, `${name}.key`);
    const csr = path.join(this.dir, `${name}.csr`);
    const certFile = path.join(this.dir, `${name}.crt`);
    const ext = path.join(this.dir, `${name}.ext`);
    writeFileSync(ext, `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
    openssl(this.dir, [
      ...['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`],
    ]);
    openssl(this.dir, [
      ...['x509', '-req', '-in', csr, '-CA', this.crt, '-CAkey', this.#key, '-CAcreateserial'],
      ...['-days', String(days), '-extfile', ext, '-out', certFile],
    ]);
    return { certFile, keyFile };
  }
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

interface TlsNetwork {
  hub: Hub;
  mosquitto: Mosquitto;
  dir: string;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * A hub in external mode on `mqtts://{host}:{port}` and a mosquitto with a TLS listener on that port.
 * The hub starts first (it makes its CA and server certificate at start); `certificates` then gives
 * mosquitto its files, and mosquitto starts: the hub's reconnection finds it.
 */
async function tlsNetwork(options: {
  host: string;
  caFile?: string;
  certificates: (dataDir: string) => { certFile: string; keyFile: string };
}): Promise<TlsNetwork> {
  const dir = tempDataDir();
  const port = await freePort();
  writeFileSync(path.join(dir, 'mqtt-broker.password'), `${HUB_PASSWORD}\n`, { mode: 0o600 });
  const logs: string[] = [];
  const hub = await startHub(
    dir,
    {
      mqtt: {
        broker: 'external',
        external: {
          url: `mqtts://${options.host}:${port}`,
          caFile: options.caFile ?? '',
          reconnectMinMs: 200,
          reconnectMaxMs: 1000,
        },
      },
    },
    { logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }) },
  );
  const mosquitto = new Mosquitto({
    dir: path.join(dir, 'mosquitto'),
    adminUser: HUB_USER,
    adminPassword: HUB_PASSWORD,
    tls: options.certificates(dir),
  });
  mosquitto.port = port;
  await mosquitto.start();
  return {
    hub,
    mosquitto,
    dir,
    logs,
    stop: async () => {
      await hub.stop();
      await mosquitto.stop();
      removeDir(dir);
    },
  };
}

function externalStatus(hub: Hub): { state?: string; url?: string; lastError?: { message: string } | null } {
  return (hub.status()['mqttExternal'] as ReturnType<typeof externalStatus> | undefined) ?? {};
}

/** Whether mosquitto accepted a CONNECT from the hub's account (its log names the username). */
function hubLoggedIn(mosquitto: Mosquitto): boolean {
  return mosquitto.log.includes(`u'${HUB_USER}'`);
}

/** A door on a reader with a card, as in the door-network cases; the reader connects on TLS. */
async function frontDoorReader(hub: Hub, port: number, caPem: string): Promise<MqttClient> {
  const { store } = hub;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
  store.credentials.addCard('ada', '04A22B1C');
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.groups.addMember('residents', 'ada');
  const secret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const reader = await mqtt.connectAsync(`mqtts://localhost:${port}`, {
        username: 'front-reader',
        password: secret,
        ca: caPem,
        rejectUnauthorized: true,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        clientId: `front-reader-${Math.random().toString(16).slice(2, 8)}`,
      });
      await reader.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
      return reader;
    } catch (error) {
      if (Date.now() > deadline) throw error; // the account is on its way to the broker until then
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Waits for the hub's log to give `reason` for a refused connection, then checks it never connected. */
async function expectRefused(network: TlsNetwork, reason: RegExp): Promise<void> {
  const said = () =>
    network.logs.some((l) => l.includes('external broker: connection error') && reason.test(l));
  await until(said, 15_000).catch(() => {
    throw new Error(`the hub's log does not say ${reason}:\n${network.logs.slice(-5).join('')}`);
  });
  await new Promise((r) => setTimeout(r, 1500)); // a few more attempts (reconnectMaxMs 1000)
  const status = externalStatus(network.hub);
  expect(status.state).not.toBe('connected');
  expect(status.lastError?.message).toMatch(reason); // status says why too (gatehouse status, the UI)
  expect(hubLoggedIn(network.mosquitto)).toBe(false);
}

describe.runIf(mosquittoAvailable())('external mosquitto over TLS', () => {
  describe("with the hub's own CA (docs §3.3: mosquitto gets a copy of the hub's server certificate)", () => {
    let network: TlsNetwork;
    let reader: MqttClient;

    beforeAll(async () => {
      network = await tlsNetwork({
        // The hub's certificate names 127.0.0.1 (and localhost, and the machine's name).
        host: '127.0.0.1',
        certificates: (dataDir) => {
          // As docs/external-broker.md §3.3: `install -m 600 data/certs/server.key …`, `-m 644 server.crt`.
          const target = path.join(dataDir, 'mosquitto-certs');
          mkdirSync(target, { recursive: true });
          const certFile = path.join(target, 'server.crt');
          const keyFile = path.join(target, 'server.key');
          copyFileSync(path.join(dataDir, 'certs', 'server.crt'), certFile);
          copyFileSync(path.join(dataDir, 'certs', 'server.key'), keyFile);
          return { certFile, keyFile };
        },
      });
      await until(() => externalStatus(network.hub).state === 'connected', 20_000).catch((error) => {
        throw new Error(`${String(error)}\n${network.logs.slice(-5).join('')}\n${network.mosquitto.log}`);
      });
      const caPem = readFileSync(path.join(network.dir, 'certs', 'ca.crt'), 'utf8');
      reader = await frontDoorReader(network.hub, network.mosquitto.port, caPem);
    }, 60_000);

    afterAll(async () => {
      reader?.end(true);
      await network?.stop();
    }, 30_000);

    it('connects on mqtts, and a door device on TLS gets its decision', async () => {
      expect(externalStatus(network.hub)).toMatchObject({
        state: 'connected',
        url: `mqtts://127.0.0.1:${network.mosquitto.port}`,
      });
      expect(hubLoggedIn(network.mosquitto)).toBe(true);
      expect(await present(reader, 'front', { id: 'tls-1', kind: 'card', value: '04A22B1C' })).toMatchObject({
        granted: true,
      });
      expect((await present(reader, 'front', { id: 'tls-2', kind: 'card', value: 'FFFFFFFF' })).granted).toBe(
        false,
      );
    });
  });

  describe("with the operator's CA (mqtt.external.caFile)", () => {
    let network: TlsNetwork;
    let reader: MqttClient;
    let ca: OperatorCa;

    beforeAll(async () => {
      const dir = tempDataDir();
      ca = new OperatorCa(dir);
      network = await tlsNetwork({
        host: 'localhost', // checked against the certificate's DNS name
        caFile: ca.crt,
        certificates: () => ca.server('broker', 'DNS:localhost'),
      });
      await until(() => externalStatus(network.hub).state === 'connected', 20_000).catch((error) => {
        throw new Error(`${String(error)}\n${network.logs.slice(-5).join('')}\n${network.mosquitto.log}`);
      });
      reader = await frontDoorReader(network.hub, network.mosquitto.port, readFileSync(ca.crt, 'utf8'));
    }, 60_000);

    afterAll(async () => {
      reader?.end(true);
      await network?.stop();
      if (ca) removeDir(ca.dir);
    }, 30_000);

    it('connects on mqtts, and a door device on TLS gets its decision', async () => {
      expect(externalStatus(network.hub).state).toBe('connected');
      expect(await present(reader, 'front', { id: 'op-1', kind: 'card', value: '04A22B1C' })).toMatchObject({
        granted: true,
      });
    });
  });

  describe('refused certificates: the hub does not connect, and its log says why', () => {
    let ca: OperatorCa;
    let network: TlsNetwork | null = null;

    beforeAll(() => {
      ca = new OperatorCa(tempDataDir());
    });

    afterEach(async () => {
      await network?.stop();
      network = null;
    }, 30_000);

    afterAll(() => {
      if (ca) removeDir(ca.dir);
    });

    it("a broker certificate of another CA than the hub's (caFile empty)", async () => {
      network = await tlsNetwork({
        host: 'localhost',
        certificates: () => ca.server('other-ca', 'DNS:localhost'),
      });
      await expectRefused(network, /unable to verify|self[- ]signed/i);
    }, 30_000);

    it('an expired broker certificate', async () => {
      network = await tlsNetwork({
        host: 'localhost',
        caFile: ca.crt,
        certificates: () => ca.server('expired', 'DNS:localhost', -1),
      });
      await expectRefused(network, /certificate has expired/i);
    }, 30_000);

    it("a certificate for another name than the URL's", async () => {
      network = await tlsNetwork({
        host: 'localhost',
        caFile: ca.crt,
        certificates: () => ca.server('elsewhere', 'DNS:broker.site.example'),
      });
      await expectRefused(network, /does not match certificate's altnames/i);
    }, 30_000);
  });

  it('never falls back to plain MQTT: every connection it opens to an mqtts URL starts a TLS handshake', async () => {
    const firstBytes: number[] = [];
    const server = net.createServer((socket) => {
      socket.once('data', (chunk) => {
        firstBytes.push(chunk[0] ?? -1);
        socket.destroy(); // no TLS answer: the handshake fails, the hub tries again
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const dir = tempDataDir();
    writeFileSync(path.join(dir, 'mqtt-broker.password'), `${HUB_PASSWORD}\n`, { mode: 0o600 });
    const hub = await startHub(dir, {
      mqtt: {
        broker: 'external',
        external: { url: `mqtts://127.0.0.1:${port}`, reconnectMinMs: 100, reconnectMaxMs: 1000 },
      },
    });
    try {
      await until(() => firstBytes.length >= 3, 15_000);
      // 0x16: a TLS handshake record; 0x10 would be a plain MQTT CONNECT.
      expect(new Set(firstBytes)).toEqual(new Set([0x16]));
      expect(externalStatus(hub).state).not.toBe('connected');
    } finally {
      await hub.stop();
      await new Promise((r) => server.close(r));
      removeDir(dir);
    }
  }, 30_000);
});
