// Issue #5 additions to the contract: mobile key challenges and door-side sync topics (docs/mqtt.md §8).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canPublish, parseTopic } from '../../hub/broker/index.js';
import { BACK, closeClients, connect, FRONT, nextMessage, type Rig, startRig, waitFor } from './helpers.js';

const front = { id: 'front-reader', role: 'door' as const, doors: ['front'] };

describe('door sync and challenge topics (ACL)', () => {
  it('a door device may publish only sync/ack, and only for its own doors', () => {
    expect(canPublish('gatehouse', front, 'gatehouse/door/front/sync/ack')).toEqual({ allowed: true });
    expect(canPublish('gatehouse', front, 'gatehouse/door/back/sync/ack')).toMatchObject({ allowed: false });
    for (const topic of [
      'gatehouse/door/front/sync/snapshot',
      'gatehouse/door/front/sync/delta',
      'gatehouse/door/front/sync',
      'gatehouse/door/front/sync/ack/x',
      'gatehouse/door/front/challenge',
    ]) {
      expect(canPublish('gatehouse', front, topic), topic).toMatchObject({ allowed: false });
    }
    expect(parseTopic('gatehouse', 'gatehouse/door/front/challenge')).toMatchObject({ channel: 'challenge' });
    expect(parseTopic('gatehouse', 'gatehouse/door/front/challenge/x')).toBeNull();
  });
});

describe('door sync and challenge topics (broker)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterEach(closeClients);
  afterAll(async () => {
    await rig.stop();
  });

  it('publishToDoor reaches the door device, retained when asked', async () => {
    await rig.broker.publishToDoor('front', 'sync/snapshot', { body: 'b', sig: 's' }, true);
    const late = await connect(rig.port, FRONT);
    const snapshot = nextMessage(late, 'gatehouse/door/front/sync/snapshot');
    await late.subscribeAsync('gatehouse/door/front/#', { qos: 1 });
    expect(await snapshot).toMatchObject({ json: { body: 'b', sig: 's' }, retain: true });

    const challenge = nextMessage(late, 'gatehouse/door/front/challenge');
    await rig.broker.publishToDoor('front', 'challenge', { id: 'm-1', challenge: 'c' }, false);
    expect(await challenge).toMatchObject({ json: { id: 'm-1', challenge: 'c' }, retain: false });

    await expect(rig.broker.publishToDoor('a/b', 'challenge', {}, false)).rejects.toThrow(/topic level/);
  });

  it('a sync ack becomes a sync_ack door input with the device id; a bad one gets an error', async () => {
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/device/front-reader/error', { qos: 1 });
    const before = rig.seen.length;
    await device.publishAsync('gatehouse/door/front/sync/ack', JSON.stringify({ version: 7 }), { qos: 1 });
    await waitFor(() => rig.seen.slice(before).some((s) => s.event === 'doorInput'), 'sync ack');
    expect(rig.seen.slice(before).find((s) => s.event === 'doorInput')?.args[0]).toEqual({
      doorId: 'front',
      type: 'sync_ack',
      data: { version: 7, deviceId: 'front-reader' },
    });

    const error = nextMessage(device, 'gatehouse/device/front-reader/error');
    await device.publishAsync('gatehouse/door/front/sync/ack', JSON.stringify({ version: 'x' }), { qos: 1 });
    expect(((await error).json as { error: string }).error).toMatch(/invalid sync ack/);

    const other = await connect(rig.port, BACK);
    await other.subscribeAsync('gatehouse/device/back-reader/error', { qos: 1 });
    const refused = nextMessage(other, 'gatehouse/device/back-reader/error');
    await other.publishAsync('gatehouse/door/front/sync/ack', JSON.stringify({ version: 1 }), { qos: 1 });
    expect(((await refused).json as { error: string }).error).toMatch(/not served/);
  });
});
