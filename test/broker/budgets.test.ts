// Issue #8 §1 and §3: every kind of device message has a budget. Over it a device is disconnected and
// refused for a back-off period, with one audit event and a bounded number of log lines.
import { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusEvents } from '../../hub/bus.js';
import {
  BACK,
  closeClients,
  collect,
  connect,
  connectRefused,
  FRONT,
  type Rig,
  startRig,
  waitFor,
} from './helpers.js';

type Rejection = BusEvents['deviceRejected'][0];

function logSink(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

function closed(client: MqttClient, ms = 5000): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('per-device budgets', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await closeClients();
    await rig?.stop();
    rig = undefined;
  });

  async function rigWith(limits: Record<string, number>) {
    const { lines, stream } = logSink();
    rig = await startRig({ limits, logger: pino({ level: 'info' }, stream) });
    const rejections: Rejection[] = [];
    rig.bus.on({}, 'deviceRejected', (r) => rejections.push(r));
    return { rig, lines, rejections };
  }

  const overBudget = (rejections: Rejection[]) =>
    rejections.filter((r) => r.error.includes('disconnected for'));

  for (const kind of ['event', 'state'] as const) {
    it(`a flood of ${kind} messages: disconnected, refused for the back-off, one audit event`, async () => {
      const { rig, lines, rejections } = await rigWith({
        messagesPerSecond: 5,
        messageBurst: 10,
        backoffSeconds: 1,
      });
      const device = await connect(rig.port, FRONT);
      const payload = kind === 'event' ? '{"type":"rex"}' : '{"contact":"open"}';
      for (let i = 0; i < 500 && device.connected; i++) {
        device.publish(`gatehouse/door/front/${kind}`, payload, { qos: 0 });
      }
      expect(await closed(device)).toBe(true);
      const handled = rig.seen.filter(
        (s) => s.event === (kind === 'event' ? 'doorInput' : 'doorReport'),
      ).length;
      expect(handled).toBeLessThanOrEqual(12);

      // Its reconnects are refused (CONNACK 3, server unavailable) until the back-off ends.
      expect(await connectRefused(rig.port, { username: FRONT.id, password: FRONT.secret })).toBe(3);
      expect(overBudget(rejections)).toHaveLength(1);
      expect(lines.filter((l) => String(l['msg']).includes('disconnected for'))).toHaveLength(1);
      // Other devices are not affected.
      expect((await connect(rig.port, BACK)).connected).toBe(true);

      await new Promise((r) => setTimeout(r, 1100));
      expect((await connect(rig.port, FRONT)).connected).toBe(true);
    });
  }

  it('a flood of refused publishes: errors up to the budget, then disconnected once', async () => {
    const { rig, lines, rejections } = await rigWith({
      refusedPerSecond: 5,
      refusedBurst: 20,
      backoffSeconds: 60,
    });
    const device = await connect(rig.port, FRONT);
    for (let i = 0; i < 2000 && device.connected; i++) {
      device.publish('gatehouse/door/back/state', '{"contact":"open"}', { qos: 0 }); // not its door
    }
    expect(await closed(device)).toBe(true);
    expect(rejections.filter((r) => !r.error.includes('disconnected for')).length).toBeLessThanOrEqual(22);
    expect(overBudget(rejections)).toHaveLength(1);
    expect(lines.length).toBeLessThan(20);
    expect(await connectRefused(rig.port, { username: FRONT.id, password: FRONT.secret })).toBe(3);
  });

  it('a flood of subscriptions: disconnected once', async () => {
    const { rig, rejections } = await rigWith({ subscriptionsPerSecond: 1, subscriptionBurst: 10 });
    const device = await connect(rig.port, FRONT);
    for (let i = 0; i < 200 && device.connected; i++) {
      device.subscribe('gatehouse/door/front/decision', { qos: 0 });
    }
    expect(await closed(device)).toBe(true);
    expect(overBudget(rejections)).toHaveLength(1);
  });

  it('credentials over the rate are answered rate_limited at once and paced; within it they are decided', async () => {
    const { rig, rejections } = await rigWith({ credentialsPerSecond: 5, credentialBurst: 5 });
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
    const answers = collect(device, 'gatehouse/door/front/decision');
    for (let i = 0; i < 50; i++) {
      device.publish('gatehouse/door/front/credential', `{"id":"c${i}","kind":"card","value":"01"}`, {
        qos: 0,
      });
    }
    await waitFor(() => answers.messages.length > 0, 'a rate_limited answer');
    const limited = () =>
      answers.messages.filter((m) => (m.json as { reason: string }).reason === 'rate_limited');
    expect(limited().length).toBeGreaterThan(0);
    // The burst was presented at once; the rest is read as the budget refills, never all at once.
    const presented = () => rig.seen.filter((s) => s.event === 'presented').length;
    expect(presented()).toBeLessThanOrEqual(6);
    await waitFor(() => presented() + limited().length >= 50, 'every credential handled', 15_000);
    expect(device.connected).toBe(true);
    // Audited once per device and minute, not once per answer.
    expect(rejections.filter((r) => r.error.includes('rate_limited'))).toHaveLength(1);
  }, 20_000);
});

describe('hub-wide admission', () => {
  it('past maxUnanswered, credentials are answered rate_limited at once; the accepted ones are still decided', async () => {
    const rig = await startRig({ limits: { maxUnanswered: 5, maxUnansweredPerDevice: 100 } });
    try {
      // A slow decider: it holds every presentation until released.
      const held: Array<BusEvents['presented'][0]> = [];
      rig.bus.on({}, 'presented', (p) => held.push(p));
      const front = await connect(rig.port, FRONT);
      const back = await connect(rig.port, BACK);
      await front.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
      await back.subscribeAsync('gatehouse/door/back/decision', { qos: 1 });
      const frontAnswers = collect(front, 'gatehouse/door/front/decision');
      const backAnswers = collect(back, 'gatehouse/door/back/decision');
      for (let i = 0; i < 4; i++) {
        await front.publishAsync(
          'gatehouse/door/front/credential',
          `{"id":"f${i}","kind":"card","value":"01"}`,
          {
            qos: 1,
          },
        );
      }
      for (let i = 0; i < 4; i++) {
        await back.publishAsync(
          'gatehouse/door/back/credential',
          `{"id":"b${i}","kind":"card","value":"01"}`,
          {
            qos: 1,
          },
        );
      }
      await waitFor(() => backAnswers.messages.length >= 3, 'rate_limited answers');
      expect(held).toHaveLength(5);
      expect(backAnswers.messages.map((m) => m.json)).toEqual([
        { id: 'b1', granted: false, reason: 'rate_limited' },
        { id: 'b2', granted: false, reason: 'rate_limited' },
        { id: 'b3', granted: false, reason: 'rate_limited' },
      ]);
      for (const p of held.splice(0)) rig.bus.emit('decided', p, { granted: true, reason: 'granted' });
      await waitFor(() => frontAnswers.messages.length >= 4, 'decisions');
      // Room again: the next one is decided.
      await back.publishAsync('gatehouse/door/back/credential', '{"id":"b9","kind":"card","value":"01"}', {
        qos: 1,
      });
      await waitFor(() => held.length === 1, 'presented again');
    } finally {
      await closeClients();
      await rig.stop();
    }
  });
});
