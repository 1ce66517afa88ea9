// The LAN listener: MQTT over TLS with the hub's generated CA.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCertificates, type HubCertificates } from '../../hub/pki/certificates.js';
import { FRONT, type Rig, run, startRig } from './helpers.js';

describe('MQTT over TLS', () => {
  let dir: string;
  let otherDir: string;
  let certs: HubCertificates;
  let otherCa: string;
  let rig: Rig;
  let tlsPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-tls-'));
    otherDir = await mkdtemp(join(tmpdir(), 'gatehouse-tls-other-'));
    certs = await ensureCertificates(join(dir, 'certs'), { hostnames: ['gatehouse.local'] });
    otherCa = (await ensureCertificates(otherDir, { hostnames: ['gatehouse.local'] })).caCertPem;
    await writeFile(join(dir, 'other-ca.crt'), otherCa);
    rig = await startRig({
      tls: { host: '127.0.0.1', port: 0, keyPem: certs.serverKeyPem, certPem: certs.serverCertPem },
      limits: { connectTimeoutMs: 1500 },
    });
    const port = rig.broker.addresses().tls;
    if (port === undefined) throw new Error('no TLS port');
    tlsPort = port;
  });

  afterAll(async () => {
    await rig?.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(otherDir, { recursive: true, force: true });
  });

  it('mqtt.js trusting the hub CA connects and is authenticated', async () => {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      ca: certs.caCertPem,
      username: FRONT.id,
      password: FRONT.secret,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    try {
      expect(client.connected).toBe(true);
      const granted = await client.subscribeAsync('gatehouse/door/front/set', { qos: 1 });
      expect(granted.map((g) => g.qos)).toEqual([1]);
    } finally {
      await client.endAsync();
    }
  });

  it('a logged-in TLS device is no longer under the login deadline', async () => {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      ca: certs.caCertPem,
      username: FRONT.id,
      password: FRONT.secret,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    try {
      await new Promise((r) => setTimeout(r, 2000));
      expect(client.connected).toBe(true);
    } finally {
      await client.endAsync();
    }
  });

  it('mosquitto_pub --cafile ca.crt publishes over TLS', async () => {
    const result = await run('mosquitto_pub', [
      ...['-h', 'localhost', '-p', String(tlsPort), '--cafile', join(dir, 'certs', 'ca.crt')],
      ...[
        '-u',
        FRONT.id,
        '-P',
        FRONT.secret,
        '-q',
        '1',
        '-t',
        'gatehouse/door/front/event',
        '-m',
        '{"type":"rex"}',
      ],
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('a client trusting a different CA refuses the hub', async () => {
    await expect(
      mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
        ca: otherCa,
        username: FRONT.id,
        password: FRONT.secret,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      }),
    ).rejects.toThrow(/certificate/i);

    const result = await run('mosquitto_pub', [
      ...['-h', 'localhost', '-p', String(tlsPort), '--cafile', join(dir, 'other-ca.crt')],
      ...['-u', FRONT.id, '-P', FRONT.secret, '-t', 'gatehouse/door/front/event', '-m', '{"type":"rex"}'],
    ]);
    expect(result.code).not.toBe(0);
  });

  it('plain MQTT spoken to the TLS port is dropped without harm', async () => {
    // An MQTT 3.1.1 CONNECT in clear text where a TLS ClientHello is expected.
    const connect = Buffer.from([
      0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00,
    ]);
    const outcome = await new Promise<string>((resolve) => {
      const socket = net.connect(tlsPort, '127.0.0.1', () => socket.write(connect));
      socket.on('error', () => resolve('closed'));
      socket.on('close', () => resolve('closed'));
      socket.resume();
    });
    expect(outcome).toBe('closed');
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      ca: certs.caCertPem,
      username: FRONT.id,
      password: FRONT.secret,
      reconnectPeriod: 0,
    });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });
});
