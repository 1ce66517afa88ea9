// What a connected account may publish and subscribe to.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canPublish, canSubscribe, filterCovers } from '../../hub/broker/index.js';
import {
  BACK,
  closeClients,
  collect,
  connect,
  FRONT,
  NODE_RED,
  nextMessage,
  type Rig,
  startRig,
  subscribeGranted,
  waitFor,
} from './helpers.js';

const front = { id: 'front-reader', role: 'door' as const, doors: ['front'] };
const integration = { id: 'node-red', role: 'integration' as const, doors: [] };

describe('topic filter coverage', () => {
  it('a pattern covers exactly the filters whose topics it matches', () => {
    expect(filterCovers('gatehouse/door/front/#', 'gatehouse/door/front/decision')).toBe(true);
    expect(filterCovers('gatehouse/door/front/#', 'gatehouse/door/front')).toBe(true);
    expect(filterCovers('gatehouse/door/front/#', 'gatehouse/door/front/+/x')).toBe(true);
    expect(filterCovers('gatehouse/door/front/#', 'gatehouse/door/+/decision')).toBe(false);
    expect(filterCovers('gatehouse/door/front/#', 'gatehouse/door/#')).toBe(false);
    expect(filterCovers('gatehouse/door/front/#', '#')).toBe(false);
    expect(filterCovers('gatehouse/door/+/state', 'gatehouse/door/back/state')).toBe(true);
    expect(filterCovers('gatehouse/door/+/state', 'gatehouse/door/+/state')).toBe(true);
    expect(filterCovers('gatehouse/door/+/state', 'gatehouse/door/#')).toBe(false);
    expect(filterCovers('gatehouse/door/+/state', 'gatehouse/door/back/state/x')).toBe(false);
  });

  it('door devices: own doors only, hub-only channels refused, with a reason that names the door', () => {
    expect(canPublish('gatehouse', front, 'gatehouse/door/front/credential')).toEqual({ allowed: true });
    expect(canPublish('gatehouse', front, 'gatehouse/device/front-reader/availability')).toEqual({
      allowed: true,
    });
    expect(canPublish('gatehouse', front, 'gatehouse/door/back/credential')).toEqual({
      allowed: false,
      reason: "not allowed: door 'back' is not served by device 'front-reader'",
    });
    expect(canPublish('gatehouse', front, 'gatehouse/door/front/decision').allowed).toBe(false);
    expect(canPublish('gatehouse', front, 'gatehouse/door/front/set').allowed).toBe(false);
    expect(canPublish('gatehouse', front, 'gatehouse/bridge/state').allowed).toBe(false);
    expect(canPublish('gatehouse', front, 'gatehouse/device/back-reader/availability').allowed).toBe(false);
    expect(canPublish('gatehouse', front, '$SYS/anything').allowed).toBe(false);
    expect(canSubscribe('gatehouse', front, 'gatehouse/door/front/decision').allowed).toBe(true);
    expect(canSubscribe('gatehouse', front, 'gatehouse/door/front/sync/cards').allowed).toBe(true);
    expect(canSubscribe('gatehouse', front, 'gatehouse/device/front-reader/error').allowed).toBe(true);
    expect(canSubscribe('gatehouse', front, 'gatehouse/door/+/decision').allowed).toBe(false);
    expect(canSubscribe('gatehouse', front, 'gatehouse/#').allowed).toBe(false);
    expect(canSubscribe('gatehouse', front, '$SYS/#').allowed).toBe(false);
  });

  it('integrations: read doors and bridge, publish only bridge requests', () => {
    expect(canSubscribe('gatehouse', integration, 'gatehouse/door/+/state').allowed).toBe(true);
    expect(canSubscribe('gatehouse', integration, 'gatehouse/bridge/#').allowed).toBe(true);
    expect(canSubscribe('gatehouse', integration, 'gatehouse/door/+/credential').allowed).toBe(false);
    expect(canSubscribe('gatehouse', integration, 'gatehouse/door/+/set').allowed).toBe(false);
    expect(canPublish('gatehouse', integration, 'gatehouse/bridge/request/unlock').allowed).toBe(true);
    expect(canPublish('gatehouse', integration, 'gatehouse/door/front/set').allowed).toBe(false);
    expect(canPublish('gatehouse', integration, 'gatehouse/door/front/credential').allowed).toBe(false);
  });

  it('a door id that could act as a wildcard never becomes a topic', () => {
    const odd = { id: 'odd', role: 'door' as const, doors: ['+', '#', 'a/b', ''] };
    expect(canSubscribe('gatehouse', odd, 'gatehouse/door/+/#').allowed).toBe(false);
    expect(canSubscribe('gatehouse', odd, 'gatehouse/#').allowed).toBe(false);
    expect(canPublish('gatehouse', odd, 'gatehouse/door/a/b/credential').allowed).toBe(false);
  });
});

describe('ACL on a live broker', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterEach(closeClients);
  afterAll(async () => {
    await rig.stop();
  });

  it("a device publishing to another door's topic is refused, told why, and stays connected", async () => {
    const back = await connect(rig.port, BACK);
    await back.subscribeAsync('gatehouse/door/back/#', { qos: 1 });
    const backMessages = collect(back, 'gatehouse/door/back/credential');

    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/device/front-reader/error', { qos: 1 });
    const error = nextMessage(device, 'gatehouse/device/front-reader/error');
    const before = rig.seen.length;
    await device.publishAsync(
      'gatehouse/door/back/credential',
      '{"id":"r1","kind":"card","value":"04A1B2C3"}',
      {
        qos: 1,
      },
    );
    expect((await error).json).toEqual({
      topic: 'gatehouse/door/back/credential',
      error: "not allowed: door 'back' is not served by device 'front-reader'",
    });
    expect(device.connected).toBe(true);
    expect(rig.seen.slice(before).filter((s) => s.event === 'presented')).toEqual([]);

    // Still serving the device on its own door.
    await device.publishAsync(
      'gatehouse/door/front/credential',
      '{"id":"r2","kind":"card","value":"04A1B2C3"}',
      {
        qos: 1,
      },
    );
    await waitFor(() => rig.seen.some((s) => s.event === 'presented'), 'presented');
    expect(backMessages.messages).toEqual([]);
  });

  it('a device cannot forge hub messages (decision, set, bridge state)', async () => {
    const back = await connect(rig.port, BACK);
    await back.subscribeAsync('gatehouse/door/back/set', { qos: 1 });
    const sets = collect(back, 'gatehouse/door/back/set');
    const device = await connect(rig.port, BACK, { clientId: 'back-forger' });
    await device.subscribeAsync('gatehouse/device/back-reader/error', { qos: 1 });
    const error = nextMessage(device, 'gatehouse/device/back-reader/error');
    await device.publishAsync('gatehouse/door/back/set', '{"lock":"unlock","ms":60000}', { qos: 1 });
    expect((await error).json).toMatchObject({ topic: 'gatehouse/door/back/set' });
    expect(sets.messages).toEqual([]);
    expect(device.connected).toBe(true);
  });

  it("subscribing to another door's decision is refused with SUBACK 128", async () => {
    const device = await connect(rig.port, FRONT);
    const granted = await subscribeGranted(device, [
      'gatehouse/door/back/decision',
      'gatehouse/door/front/decision',
      'gatehouse/door/+/decision',
      '#',
    ]);
    expect(granted).toEqual([128, 1, 128, 128]);
    expect(device.connected).toBe(true);
  });

  it('a decision for the back door never reaches the front device, even with a refused wildcard', async () => {
    const device = await connect(rig.port, FRONT);
    expect(
      await subscribeGranted(device, ['gatehouse/door/+/decision', 'gatehouse/door/front/decision']),
    ).toEqual([128, 1]);
    const seenByFront = collect(device, 'gatehouse/door/back/decision');
    const back = await connect(rig.port, BACK);
    await back.subscribeAsync('gatehouse/door/back/decision', { qos: 1 });
    const atBack = nextMessage(back, 'gatehouse/door/back/decision');
    rig.bus.emit(
      'decided',
      { doorId: 'back', kind: 'card', value: '01', readerId: 'r', requestId: 'q1', deviceId: BACK.id },
      { granted: true, reason: 'granted', unlockMs: 3000 },
    );
    expect((await atBack).json).toEqual({ id: 'q1', granted: true, reason: 'granted', unlockMs: 3000 });
    expect(seenByFront.messages).toEqual([]);
  });

  it('an integration reads door states and bridge topics but cannot publish to doors', async () => {
    const device = await connect(rig.port, FRONT);
    await device.publishAsync('gatehouse/door/front/state', '{"contact":"closed","lock":"locked"}', {
      qos: 1,
      retain: true,
    });
    const nodeRed = await connect(rig.port, NODE_RED);
    const state = nextMessage(nodeRed, 'gatehouse/door/front/state');
    const granted = await subscribeGranted(nodeRed, [
      'gatehouse/door/+/state',
      'gatehouse/door/+/credential',
    ]);
    expect(granted).toEqual([1, 128]);
    expect((await state).json).toEqual({ contact: 'closed', lock: 'locked' });

    await nodeRed.subscribeAsync('gatehouse/device/node-red/error', { qos: 1 });
    await device.subscribeAsync('gatehouse/door/front/set', { qos: 1 });
    const sets = collect(device, 'gatehouse/door/front/set');
    await nodeRed.publishAsync('gatehouse/door/front/set', '{"lock":"unlock","ms":5000}', { qos: 1 });
    // The refusal is acknowledged, not routed: a round trip on a permitted topic proves ordering.
    const bridgeState = nextMessage(nodeRed, 'gatehouse/bridge/state');
    await nodeRed.subscribeAsync('gatehouse/bridge/state', { qos: 1 });
    await bridgeState;
    expect(sets.messages).toEqual([]);
    expect(nodeRed.connected).toBe(true);
  });

  it('$SYS stays protected: a publish there is refused and the client stays connected', async () => {
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/device/front-reader/error', { qos: 1 });
    const error = nextMessage(device, 'gatehouse/device/front-reader/error');
    await device.publishAsync('$SYS/broker/fake', 'x', { qos: 1 });
    expect((await error).json).toMatchObject({ topic: '$SYS/broker/fake' });
    expect(device.connected).toBe(true);
  });
});
