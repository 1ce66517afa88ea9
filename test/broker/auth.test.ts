// Who may connect: only devices with their own username and secret.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACK, closeClients, connect, connectRefused, FRONT, type Rig, run, startRig } from './helpers.js';

describe('MQTT login', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterEach(closeClients);
  afterAll(async () => {
    await rig.stop();
  });

  it('refuses an anonymous client with CONNACK 5 (not authorized)', async () => {
    expect(await connectRefused(rig.port, {})).toBe(5);
  });

  it('refuses a wrong secret with CONNACK 4 (bad username or password)', async () => {
    expect(await connectRefused(rig.port, { username: FRONT.id, password: 'not-the-secret' })).toBe(4);
  });

  it('refuses a username without a password, and an empty password, without crashing', async () => {
    expect(await connectRefused(rig.port, { username: FRONT.id })).toBe(5);
    expect(await connectRefused(rig.port, { username: FRONT.id, password: '' })).toBe(5);
    expect(await connectRefused(rig.port, { username: 'nobody', password: 'x' })).toBe(4);
  });

  it('accepts a device with its own secret', async () => {
    const client = await connect(rig.port, FRONT);
    expect(client.connected).toBe(true);
    expect(rig.broker.onlineDevices()).toContain(FRONT.id);
  });

  it('refuses mosquitto_pub without credentials and accepts it with them', async () => {
    const base = ['-h', '127.0.0.1', '-p', String(rig.port), '-t', 'gatehouse/door/front/event', '-q', '1'];
    const anonymous = await run('mosquitto_pub', [...base, '-m', '{"type":"rex"}']);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/not authori[sz]ed/i);

    const authed = await run('mosquitto_pub', [
      ...base,
      '-u',
      FRONT.id,
      '-P',
      FRONT.secret,
      '-m',
      '{"type":"rex"}',
    ]);
    expect(authed.code).toBe(0);
  });

  it('refuses a last will outside the device own availability topic', async () => {
    const code = await connectRefused(rig.port, {
      username: FRONT.id,
      password: FRONT.secret,
      will: {
        topic: 'gatehouse/door/back/state',
        payload: Buffer.from('{"lock":"unlocked"}'),
        qos: 1,
        retain: true,
      },
    });
    expect(code).toBe(5);
  });

  it("refuses a client id that would push another device's session off", async () => {
    const front = await connect(rig.port, FRONT, { clientId: 'shared-id' });
    const code = await connectRefused(rig.port, {
      username: BACK.id,
      password: BACK.secret,
      clientId: 'shared-id',
    });
    expect(code).toBe(2);
    expect(front.connected).toBe(true);
  });

  it('a device that reconnects with its own client id replaces its old session', async () => {
    const first = await connect(rig.port, FRONT, { clientId: 'front-1' });
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    const second = await connect(rig.port, FRONT, { clientId: 'front-1' });
    await closed;
    expect(second.connected).toBe(true);
    expect(rig.broker.onlineDevices()).toContain(FRONT.id);
  });

  it('disconnectDevice closes every connection of that device', async () => {
    const client = await connect(rig.port, BACK);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    expect(rig.broker.disconnectDevice(BACK.id)).toBe(1);
    await closed;
  });
});

describe('MQTT login with a failing device directory', () => {
  it('answers CONNACK 3 (server unavailable) and keeps running', async () => {
    let failing = true;
    const rig = await startRig({
      directory: {
        authenticate: (username, secret) => {
          if (failing) throw new Error('database is locked');
          return username === FRONT.id && secret === FRONT.secret
            ? { id: FRONT.id, role: 'door', doors: ['front'] }
            : null;
        },
      },
    });
    try {
      expect(await connectRefused(rig.port, { username: FRONT.id, password: FRONT.secret })).toBe(3);
      failing = false;
      const client = await connect(rig.port, FRONT);
      expect(client.connected).toBe(true);
    } finally {
      await closeClients();
      await rig.stop();
    }
  });
});
