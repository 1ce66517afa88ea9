// MQTT 3.1.1 says the server closes the connection on these packets (mosquitto does); aedes let them
// through. Hand-made bytes on raw sockets, since mqtt.js will not send them.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FRONT, type Rig, startRig } from './helpers.js';
import { connectPacket, packet, publishPacket, RawClient, str, subscribePacket, u16 } from './raw.js';

const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const MAX_PAYLOAD = 1024;
const PACKET_LIMIT = MAX_PAYLOAD + 1024;

describe('MQTT protocol violations close the connection before aedes acts', () => {
  let rig: Rig;
  const raws: RawClient[] = [];
  beforeAll(async () => {
    rig = await startRig({ maxPayloadBytes: MAX_PAYLOAD });
  });
  afterEach(() => {
    for (const raw of raws.splice(0)) raw.destroy();
  });
  afterAll(async () => {
    await rig.stop();
  });

  async function loggedIn(clientId: string): Promise<RawClient> {
    const raw = new RawClient(rig.port);
    raws.push(raw);
    await raw.connected();
    raw.send(connectPacket({ clientId, username: FRONT.id, password: FRONT.secret }));
    expect((await raw.bytes(4)).subarray(0, 4)).toEqual(CONNACK_OK);
    return raw;
  }

  const presented = () => rig.seen.filter((s) => s.event === 'presented').length;
  const credential = (id: string) => JSON.stringify({ id, kind: 'card', value: '04A1B2C3' });

  it('protocol name MQIsdp with level 4', async () => {
    const raw = new RawClient(rig.port);
    raws.push(raw);
    await raw.connected();
    raw.send(
      connectPacket({ clientId: 'old', username: FRONT.id, password: FRONT.secret, protocol: 'MQIsdp' }),
    );
    expect(await raw.closedWithin(2000)).toBe(true);
    expect(raw.received.length).toBe(0); // no CONNACK
  });

  const badTopics: Array<[string, Buffer]> = [
    ['invalid UTF-8', Buffer.concat([Buffer.from('gatehouse/door/front/'), Buffer.from([0xc3, 0x28])])],
    ['U+0000', Buffer.from('gatehouse/door/front\u0000/credential')],
    ['a UTF-16 surrogate (CESU-8 bytes)', Buffer.from([0x67, 0x2f, 0xed, 0xa0, 0x80])],
  ];
  for (const [what, topic] of badTopics) {
    it(`a PUBLISH topic with ${what}: no PUBACK, connection closed`, async () => {
      const raw = await loggedIn(`topic-${what.length}`);
      raw.send(publishPacket(topic, credential('bad-topic'), 1, 7));
      expect(await raw.closedWithin(2000)).toBe(true);
      expect(raw.received.length).toBe(4); // the CONNACK and nothing else
    });
  }

  it('packet identifier 0 on a QoS 1 PUBLISH', async () => {
    const before = presented();
    const raw = await loggedIn('pid0-pub');
    raw.send(publishPacket('gatehouse/door/front/credential', credential('pid0'), 1, 0));
    expect(await raw.closedWithin(2000)).toBe(true);
    expect(raw.received.length).toBe(4);
    expect(presented()).toBe(before);
  });

  it('packet identifier 0 on SUBSCRIBE, and a subscription filter with U+0000', async () => {
    const raw = await loggedIn('pid0-sub');
    raw.send(subscribePacket('gatehouse/door/front/decision', 0));
    expect(await raw.closedWithin(2000)).toBe(true);
    expect(raw.received.length).toBe(4); // no SUBACK

    const other = await loggedIn('nul-sub');
    other.send(subscribePacket('gatehouse/door/front/\u0000', 3));
    expect(await other.closedWithin(2000)).toBe(true);
    expect(other.received.length).toBe(4);
  });

  it('a packet over the size limit closes the connection and nothing in it is handled', async () => {
    const before = presented();
    const raw = await loggedIn('too-big');
    const value = 'A'.repeat(PACKET_LIMIT);
    raw.send(
      publishPacket('gatehouse/door/front/credential', JSON.stringify({ id: 'big', kind: 'card', value })),
    );
    expect(await raw.closedWithin(2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(presented()).toBe(before);
  });

  it('the limit is checked from the fixed header, before the body arrives', async () => {
    const raw = await loggedIn('header-only');
    // Announce a 9,300-byte PUBLISH and send only its first bytes: closed without waiting for the rest.
    raw.send(Buffer.concat([Buffer.from([0x30, 0xd4, 0x48]), str('gatehouse/door/front/credential')]));
    expect(await raw.closedWithin(2000)).toBe(true);
  });

  it('a packet just under the limit is handled; split across writes it is still one packet', async () => {
    const before = presented();
    const raw = await loggedIn('split');
    const good = publishPacket('gatehouse/door/front/credential', credential('split-1'), 1, 9);
    raw.send(good.subarray(0, 1));
    await new Promise((r) => setTimeout(r, 20));
    raw.send(good.subarray(1, 3));
    await new Promise((r) => setTimeout(r, 20));
    raw.send(good.subarray(3));
    const puback = Buffer.from([0x40, 0x02, ...u16(9)]);
    expect((await raw.bytes(8)).subarray(4, 8)).toEqual(puback);
    expect(presented()).toBe(before + 1);
    expect(raw.closed).toBe(false);

    // Two packets in one write, the second with a bad topic: the first is handled, then the close.
    const pair = Buffer.concat([
      publishPacket('gatehouse/door/front/credential', credential('split-2'), 0),
      publishPacket(Buffer.from([0x67, 0xff]), 'x', 0),
    ]);
    raw.send(pair);
    expect(await raw.closedWithin(2000)).toBe(true);
    expect(presented()).toBe(before + 2);
  });

  it('a malformed remaining length (five length bytes) closes the connection', async () => {
    const raw = await loggedIn('varint');
    raw.send(packet(0x30, Buffer.alloc(0)).subarray(0, 1));
    raw.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]));
    expect(await raw.closedWithin(2000)).toBe(true);
  });
});
