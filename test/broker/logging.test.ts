// What the operator's log shows: refusals, explained, without secrets, and without flooding.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeClients,
  connect,
  connectRefused,
  FRONT,
  nextMessage,
  type Rig,
  startRig,
  waitFor,
} from './helpers.js';

describe('broker logging', () => {
  const lines: Array<Record<string, unknown>> = [];
  let rig: Rig;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
        done();
      },
    });
    rig = await startRig({ logger: pino({ level: 'debug' }, sink) });
  });
  afterAll(async () => {
    await closeClients();
    await rig.stop();
  });

  it('never logs a secret, a keypad value or a card UID', async () => {
    await connectRefused(rig.port, { username: FRONT.id, password: 'wrong-secret-value' });
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/device/front-reader/error', { qos: 1 });
    const error = nextMessage(device, 'gatehouse/device/front-reader/error');
    await device.publishAsync(
      'gatehouse/door/front/credential',
      '{"id":"p1","kind":"keypad","value":"482913"',
      {
        qos: 1,
      },
    );
    await error;
    await device.publishAsync(
      'gatehouse/door/front/credential',
      '{"id":"p2","kind":"keypad","value":"739164"}',
      {
        qos: 1,
      },
    );
    await device.publishAsync(
      'gatehouse/door/front/credential',
      '{"id":"c1","kind":"card","value":"04A1B2C3D4"}',
      {
        qos: 1,
      },
    );
    await waitFor(() => rig.seen.filter((s) => s.event === 'presented').length >= 2, 'presentations');
    const text = JSON.stringify(lines);
    expect(text).toContain('MQTT login refused');
    expect(text).toContain('device message refused');
    for (const secret of ['wrong-secret-value', FRONT.secret, '482913', '739164', '04A1B2C3D4']) {
      expect(text).not.toContain(secret);
    }
  });

  it('a device looping on bad messages gets every error, but the log is capped per minute', async () => {
    const device = await connect(rig.port, FRONT, { clientId: 'looping' });
    await device.subscribeAsync('gatehouse/device/front-reader/error', { qos: 1 });
    let errors = 0;
    device.on('message', (topic) => {
      if (topic === 'gatehouse/device/front-reader/error') errors++;
    });
    const before = lines.filter((l) => l['msg'] === 'device message refused').length;
    for (let i = 0; i < 40; i++) {
      await device.publishAsync('gatehouse/door/front/state', '{"contact":"ajar"}', { qos: 1 });
    }
    await waitFor(() => errors === 40, '40 error messages');
    const logged = lines.filter((l) => l['msg'] === 'device message refused').length - before;
    expect(logged).toBeLessThanOrEqual(20);
    expect(logged).toBeGreaterThan(0);
  });
});
