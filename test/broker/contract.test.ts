// The MQTT contract v1 end to end: device messages in, hub messages out, bad input answered.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Presentation } from '../../hub/bus.js';
import {
  BACK,
  closeClients,
  collect,
  connect,
  FRONT,
  NODE_RED,
  nextMessage,
  payloadLines,
  type Rig,
  run,
  startMosquittoSub,
  startRig,
  waitFor,
} from './helpers.js';

const ERROR_TOPIC = 'gatehouse/device/front-reader/error';
const DECISION_TOPIC = 'gatehouse/door/front/decision';
const MAX_PAYLOAD = 1024;

describe('MQTT contract v1', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({ maxPayloadBytes: MAX_PAYLOAD });
  });
  afterEach(closeClients);
  afterAll(async () => {
    await rig.stop();
  });

  function presented(): Presentation[] {
    return rig.seen.filter((s) => s.event === 'presented').map((s) => s.args[0] as Presentation);
  }

  it('a valid credential becomes a bus presentation, and the decision reaches mosquitto_sub', async () => {
    const owner = {};
    // Stand-in for the decision engine: answer every MQTT presentation.
    rig.bus.on(owner, 'presented', (p) =>
      rig.bus.emit('decided', p, { granted: true, reason: 'granted', unlockMs: 4000 }),
    );
    try {
      const auth = ['-h', '127.0.0.1', '-p', String(rig.port), '-u', FRONT.id, '-P', FRONT.secret];
      const sub = await startMosquittoSub([
        ...auth,
        '-t',
        DECISION_TOPIC,
        '-q',
        '1',
        '-C',
        '1',
        '-i',
        'front-sub',
      ]);
      const pub = await run('mosquitto_pub', [
        ...auth,
        '-i',
        'front-pub',
        '-q',
        '1',
        '-t',
        'gatehouse/door/front/credential',
        '-m',
        '{"id":"req-1","kind":"card","value":"04a1b2c3","reader":"outside"}',
      ]);
      expect(pub.code).toBe(0);
      const result = await sub.done;
      expect(result.code).toBe(0);
      expect(payloadLines(result.stdout).map((l) => JSON.parse(l))).toEqual([
        { id: 'req-1', granted: true, reason: 'granted', unlockMs: 4000 },
      ]);
      expect(presented().at(-1)).toEqual({
        doorId: 'front',
        kind: 'card',
        value: '04A1B2C3',
        readerId: 'outside',
        requestId: 'req-1',
        deviceId: FRONT.id,
      });
    } finally {
      rig.bus.removeAll(owner);
    }
  });

  it('a keypad entry without a reader is attributed to the device, and never routed to subscribers', async () => {
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/door/front/#', { qos: 1 });
    const echoed = collect(device, 'gatehouse/door/front/credential');
    await device.publishAsync(
      'gatehouse/door/front/credential',
      '{"id":"k1","kind":"keypad","value":"123456"}',
      {
        qos: 1,
      },
    );
    await waitFor(() => presented().some((p) => p.requestId === 'k1'), 'keypad presentation');
    expect(presented().find((p) => p.requestId === 'k1')).toMatchObject({
      kind: 'keypad',
      readerId: FRONT.id,
    });
    // A later message on the same connection arrives after any echo would have.
    const state = nextMessage(device, 'gatehouse/door/front/state');
    await device.publishAsync('gatehouse/door/front/state', '{"lock":"locked"}', { qos: 1 });
    await state;
    expect(echoed.messages).toEqual([]);
  });

  const badCredentials: Array<[string, string | Buffer, RegExp]> = [
    ['malformed JSON', '{"id":"bad-json","kind":"card",', /malformed JSON/],
    ['wrong types', '{"id":"bad-types","kind":"card","value":1234}', /'value' must be string/],
    [
      'an unknown kind',
      '{"id":"bad-kind","kind":"retina","value":"x"}',
      /'kind' must be one of card, keypad, mobile/,
    ],
    [
      'an oversized payload',
      `{"id":"bad-size","kind":"mobile","value":"${'x'.repeat(MAX_PAYLOAD)}"}`,
      new RegExp(`payload too large: \\d+ bytes, limit ${MAX_PAYLOAD}`),
    ],
    ['an unknown field', '{"id":"bad-field","kind":"card","value":"01","pin":"1234"}', /unknown field 'pin'/],
    ['a card value that is not hex', '{"id":"bad-card","kind":"card","value":"zz"}', /hex digits/],
  ];

  for (const [what, payload, expected] of badCredentials) {
    it(`a credential with ${what} gets an error and an invalid_request decision; the device is still served`, async () => {
      const device = await connect(rig.port, FRONT);
      await device.subscribeAsync([ERROR_TOPIC, DECISION_TOPIC], { qos: 1 });
      const error = nextMessage(device, ERROR_TOPIC);
      const decision = nextMessage(device, DECISION_TOPIC);
      const before = presented().length;
      await device.publishAsync('gatehouse/door/front/credential', payload, { qos: 1 });

      const errorMessage = (await error).json as { topic: string; error: string };
      expect(errorMessage.topic).toBe('gatehouse/door/front/credential');
      expect(errorMessage.error).toMatch(expected);
      const id = /"id":"([^"]+)"/.exec(payload.toString())?.[1];
      expect((await decision).json).toEqual({ id, granted: false, reason: 'invalid_request' });
      expect(presented().length).toBe(before);

      // Still connected and still served.
      await device.publishAsync(
        'gatehouse/door/front/credential',
        `{"id":"after-${id}","kind":"card","value":"01"}`,
        {
          qos: 1,
        },
      );
      await waitFor(() => presented().some((p) => p.requestId === `after-${id}`), 'a later valid credential');
      expect(device.connected).toBe(true);
    });
  }

  it('a credential without a readable id gets an error only', async () => {
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync([ERROR_TOPIC, DECISION_TOPIC], { qos: 1 });
    const decisions = collect(device, DECISION_TOPIC);
    const error = nextMessage(device, ERROR_TOPIC);
    await device.publishAsync('gatehouse/door/front/credential', 'not json at all', { qos: 1 });
    expect(((await error).json as { error: string }).error).toBe('malformed JSON');
    expect(decisions.messages).toEqual([]);
  });

  it('a bus listener that throws does not cost the device its connection', async () => {
    const owner = {};
    rig.bus.on(owner, 'presented', () => {
      throw new Error('engine bug');
    });
    try {
      const device = await connect(rig.port, FRONT);
      await device.publishAsync(
        'gatehouse/door/front/credential',
        '{"id":"boom","kind":"card","value":"01"}',
        {
          qos: 1,
        },
      );
      await device.publishAsync(
        'gatehouse/door/front/credential',
        '{"id":"boom-2","kind":"card","value":"01"}',
        {
          qos: 1,
        },
      );
      await waitFor(() => presented().some((p) => p.requestId === 'boom-2'), 'second presentation');
      expect(device.connected).toBe(true);
    } finally {
      rig.bus.removeAll(owner);
    }
  });

  it('lockCommand on the bus is published as set, QoS 1', async () => {
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/door/front/set', { qos: 1 });
    const unlock = nextMessage(device, 'gatehouse/door/front/set');
    rig.bus.emit('lockCommand', { doorId: 'front', lock: 'unlock', ms: 7000 });
    expect((await unlock).json).toEqual({ lock: 'unlock', ms: 7000 });
    const lock = nextMessage(device, 'gatehouse/door/front/set');
    rig.bus.emit('lockCommand', { doorId: 'front', lock: 'lock' });
    expect((await lock).json).toEqual({ lock: 'lock' });
  });

  it('a decision for a wired door (no request id) is not published', async () => {
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync([DECISION_TOPIC, 'gatehouse/door/front/set'], { qos: 1 });
    const decisions = collect(device, DECISION_TOPIC);
    rig.bus.emit(
      'decided',
      { doorId: 'front', kind: 'card', value: '01', readerId: 'wiegand-1' },
      {
        granted: true,
        reason: 'granted',
      },
    );
    const set = nextMessage(device, 'gatehouse/door/front/set');
    rig.bus.emit('lockCommand', { doorId: 'front', lock: 'lock' });
    await set;
    expect(decisions.messages).toEqual([]);
  });

  it('state becomes doorReport and is retained for integrations; bad state is refused', async () => {
    const device = await connect(rig.port, BACK);
    await device.publishAsync(
      'gatehouse/door/back/state',
      '{"contact":"open","lock":"unlocked","tamper":false}',
      {
        qos: 1,
        retain: true,
      },
    );
    await waitFor(
      () =>
        rig.seen.some((s) => s.event === 'doorReport' && (s.args[0] as { doorId: string }).doorId === 'back'),
      'doorReport',
    );
    expect(rig.seen.filter((s) => s.event === 'doorReport').at(-1)?.args[0]).toEqual({
      doorId: 'back',
      contact: 'open',
      lock: 'unlocked',
      tamper: false,
    });
    const nodeRed = await connect(rig.port, NODE_RED);
    const retained = nextMessage(nodeRed, 'gatehouse/door/back/state');
    await nodeRed.subscribeAsync('gatehouse/door/+/state', { qos: 1 });
    const got = await retained;
    expect(got.retain).toBe(true);
    expect(got.json).toEqual({ contact: 'open', lock: 'unlocked', tamper: false });

    await device.subscribeAsync('gatehouse/device/back-reader/error', { qos: 1 });
    const error = nextMessage(device, 'gatehouse/device/back-reader/error');
    await device.publishAsync('gatehouse/door/back/state', '{"contact":"ajar"}', { qos: 1 });
    expect(((await error).json as { error: string }).error).toMatch(/'contact' must be one of open, closed/);
  });

  it('event becomes doorInput with its data; the reserved availability type is refused', async () => {
    const device = await connect(rig.port, BACK);
    await device.publishAsync('gatehouse/door/back/event', '{"type":"rex","button":2}', { qos: 1 });
    await waitFor(
      () => rig.seen.some((s) => s.event === 'doorInput' && (s.args[0] as { type: string }).type === 'rex'),
      'rex event',
    );
    expect(
      rig.seen.find((s) => s.event === 'doorInput' && (s.args[0] as { type: string }).type === 'rex')
        ?.args[0],
    ).toEqual({ doorId: 'back', type: 'rex', data: { button: 2 } });
    await device.subscribeAsync('gatehouse/device/back-reader/error', { qos: 1 });
    const error = nextMessage(device, 'gatehouse/device/back-reader/error');
    await device.publishAsync('gatehouse/door/back/event', '{"type":"availability","online":true}', {
      qos: 1,
    });
    expect(((await error).json as { error: string }).error).toMatch(/reserved/);
  });

  it("LWT: when a device's socket dies its availability goes offline on the bus (mosquitto_sub killed)", async () => {
    await waitFor(() => !rig.broker.onlineDevices().includes(BACK.id), 'earlier connections to close');
    const before = rig.seen.length;
    const sub = await startMosquittoSub([
      ...['-h', '127.0.0.1', '-p', String(rig.port), '-u', BACK.id, '-P', BACK.secret, '-i', 'back-lwt'],
      ...[
        '-t',
        'gatehouse/device/back-reader/error',
        '--will-topic',
        'gatehouse/device/back-reader/availability',
      ],
      ...['--will-payload', 'offline', '--will-qos', '1', '--will-retain'],
    ]);
    expect(rig.broker.onlineDevices()).toContain(BACK.id);
    const availability = (online: boolean) =>
      rig.seen
        .slice(before)
        .some(
          (s) =>
            s.event === 'doorInput' &&
            JSON.stringify(s.args[0]) ===
              JSON.stringify({ doorId: 'back', type: 'availability', data: { online, deviceId: BACK.id } }),
        );
    await waitFor(() => availability(true), 'availability online');
    sub.kill(); // SIGKILL: no DISCONNECT, so the broker publishes the will
    await sub.done;
    await waitFor(() => availability(false), 'availability offline');
    expect(rig.broker.onlineDevices()).not.toContain(BACK.id);
  });

  it('a will from one connection does not mark a device with another live connection offline', async () => {
    const device = await connect(rig.port, BACK, {
      clientId: 'back-lwt-2',
      will: {
        topic: 'gatehouse/device/back-reader/availability',
        payload: Buffer.from('offline'),
        qos: 1,
        retain: true,
      },
    });
    const second = await connect(rig.port, BACK, { clientId: 'back-second' });
    await second.subscribeAsync('gatehouse/device/back-reader/error', { qos: 1 });
    const gone = new Promise<void>((resolve) => device.once('close', () => resolve()));
    (device as unknown as { stream: net.Socket }).stream.destroy();
    await gone;
    // A round trip on the surviving connection lets the broker finish handling the will.
    const state = nextMessage(second, 'gatehouse/door/back/state');
    await second.subscribeAsync('gatehouse/door/back/state', { qos: 1 });
    await second.publishAsync('gatehouse/door/back/state', '{"lock":"locked"}', { qos: 1, retain: true });
    await state;
    expect(rig.broker.onlineDevices()).toContain(BACK.id);
    await second.endAsync();
    await waitFor(
      () => !rig.broker.onlineDevices().includes(BACK.id),
      'device offline after its last connection',
    );
  });

  it('bridge/state is retained online while the broker runs', async () => {
    const nodeRed = await connect(rig.port, NODE_RED);
    const state = nextMessage(nodeRed, 'gatehouse/bridge/state');
    await nodeRed.subscribeAsync('gatehouse/bridge/#', { qos: 1 });
    const got = await state;
    expect(got.retain).toBe(true);
    expect(got.json).toEqual({ state: 'online' });

    const event = nextMessage(nodeRed, 'gatehouse/bridge/event');
    await rig.broker.publishBridgeEvent({
      type: 'decision',
      door: 'front',
      granted: false,
      reason: 'revoked',
    });
    expect((await event).json).toEqual({
      type: 'decision',
      door: 'front',
      granted: false,
      reason: 'revoked',
    });
  });

  it('a bridge request without a handler is answered with an error echoing the transaction', async () => {
    const nodeRed = await connect(rig.port, NODE_RED);
    await nodeRed.subscribeAsync('gatehouse/bridge/response/+', { qos: 1 });
    const response = nextMessage(nodeRed, 'gatehouse/bridge/response/unlock');
    await nodeRed.publishAsync('gatehouse/bridge/request/unlock', '{"transaction":"t-9","door":"front"}', {
      qos: 1,
    });
    expect((await response).json).toEqual({ transaction: 't-9', error: "unknown request 'unlock'" });
  });

  it('raw garbage on the socket is dropped and the broker keeps serving', async () => {
    for (const junk of [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), // remaining length beyond the MQTT maximum
      Buffer.from([0x10, 0x1a, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x05]), // cut-off CONNECT
      Buffer.from([0xe0, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05]), // DISCONNECT with a body
      Buffer.alloc(4096, 0xaa),
    ]) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(rig.port, '127.0.0.1', () => socket.end(junk));
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
      });
    }
    const device = await connect(rig.port, FRONT);
    expect(device.connected).toBe(true);
  });

  it('a packet far beyond the size cap closes that connection only', async () => {
    const device = await connect(rig.port, FRONT, { clientId: 'front-huge' });
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    device.publish('gatehouse/door/front/event', Buffer.alloc(MAX_PAYLOAD * 100, 0x20), { qos: 0 });
    await closed;
    const other = await connect(rig.port, FRONT, { clientId: 'front-after-huge' });
    expect(other.connected).toBe(true);
  });
});

describe('broker lifecycle', () => {
  it('publishes bridge offline on stop, then closes clients and listeners', async () => {
    const rig = await startRig();
    const nodeRed = await connect(rig.port, NODE_RED);
    await nodeRed.subscribeAsync('gatehouse/bridge/state', { qos: 1 });
    const offline = new Promise<unknown>((resolve) => {
      nodeRed.on('message', (_t, payload) => {
        const json = JSON.parse(payload.toString()) as { state: string };
        if (json.state === 'offline') resolve(json);
      });
    });
    const closed = new Promise<void>((resolve) => nodeRed.once('close', () => resolve()));
    await rig.stop();
    expect(await offline).toEqual({ state: 'offline' });
    await closed;
    await expect(
      new Promise((resolve, reject) => {
        const socket = net.connect(rig.port, '127.0.0.1', () => resolve('connected'));
        socket.on('error', reject);
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    await closeClients();
  });

  it('maxClients: connections beyond the limit are closed at once', async () => {
    const rig = await startRig({ maxClients: 2 });
    try {
      await connect(rig.port, FRONT);
      await connect(rig.port, BACK);
      const refused = await new Promise<string>((resolve) => {
        const socket = net.connect(rig.port, '127.0.0.1');
        socket.on('error', () => {});
        socket.on('close', () => resolve('closed by the broker'));
        socket.resume();
      });
      expect(refused).toBe('closed by the broker');
    } finally {
      await closeClients();
      await rig.stop();
    }
  });
});
