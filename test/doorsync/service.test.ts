// DoorSync feeding door copies through the exact bytes it would publish (the MQTT path is in mqtt.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DoorCopy } from '../../hub/doorsync/copy.js';
import { signSyncBody } from '../../hub/doorsync/format.js';
import { DoorSync, type SyncChannel } from '../../hub/doorsync/service.js';
import { IssuerKey } from '../../hub/mobile/issuer.js';
import { type SyncBuilding, syncBuilding, until } from './helpers.js';

interface Sent {
  doorId: string;
  channel: SyncChannel;
  payload: string;
  retain: boolean;
}

let b: SyncBuilding;
let sent: Sent[];
let sync: DoorSync;

function startSync(options: { pins?: boolean; now?: () => number } = {}): DoorSync {
  const instance = new DoorSync({
    store: b.opened.store,
    bus: b.bus,
    signingKey: b.issuer.privateKey,
    publish: async (doorId, channel, message, retain) => {
      sent.push({ doorId, channel, payload: JSON.stringify(message), retain });
    },
    pinKey: options.pins === false ? null : b.opened.keys.subkey('pin'),
    cardKey: b.opened.keys.subkey('card'),
    timeZone: 'Europe/Berlin',
    debounceMs: 5,
    ...(options.now ? { now: options.now } : {}),
  });
  return instance;
}

/** A door copy that receives every message for its door, in order, like a subscribed controller. */
function follow(doorId: string, from = 0): { copy: DoorCopy; pump: () => void } {
  const copy = new DoorCopy(doorId, b.issuer.publicKey);
  let next = from;
  return {
    copy,
    pump() {
      for (; next < sent.length; next++) {
        const message = sent[next]!;
        if (message.doorId === doorId) copy.apply(message.payload);
      }
    },
  };
}

beforeEach(async () => {
  b = syncBuilding();
  sent = [];
  sync = startSync();
  await sync.start();
  await sync.idle();
});
afterEach(async () => {
  await sync.stop();
  await b.cleanup();
});

describe('door sync', () => {
  it('publishes a retained, signed snapshot per MQTT door that a door decides from on its own', () => {
    const snapshots = sent.filter((m) => m.channel === 'sync/snapshot');
    expect(snapshots.map((m) => [m.doorId, m.retain])).toEqual([
      ['front', true],
      ['lobby', true],
    ]);
    const front = follow('front');
    front.pump();
    expect(front.copy.size).toBe(3);
    const now = Date.now();
    expect(front.copy.decide('card', '04:a1:b2:c3', now)).toEqual({ granted: true, reason: 'granted' });
    expect(front.copy.decide('keypad', '424242', now)).toEqual({ granted: true, reason: 'granted' });
    expect(front.copy.decide('keypad', '424243', now)).toEqual({
      granted: false,
      reason: 'unknown_credential',
    });
    expect(front.copy.decide('card', 'FFFF', now)).toEqual({ granted: false, reason: 'unknown_credential' });

    const lobby = follow('lobby');
    lobby.pump();
    expect(lobby.copy.size).toBe(0); // nobody is granted the lobby
  });

  it('never puts a raw PIN, a card UID, a name or a person id in what it sends', () => {
    const all = sent
      .map((m) => Buffer.from(JSON.parse(m.payload).body, 'base64url').toString('utf8'))
      .join('\n');
    expect(all).not.toContain('424242');
    expect(all.toUpperCase()).not.toContain('04A1B2C3'); // cards travel as HMACs under the card key
    expect(all).toMatch(/"cardKey":"[A-Za-z0-9_-]{43}"/);
    expect(all).not.toContain('Anna');
    expect(all).not.toContain('anna');
  });

  it('sends a revocation made by the CLI as a delta, and the door copy refuses the card', async () => {
    const front = follow('front');
    front.pump();
    const before = front.copy.version;
    b.cli((store) => store.credentials.revoke('c_card1', 'lost'));
    await until(() => sent.some((m) => m.channel === 'sync/delta' && m.doorId === 'front'), 3000, 'delta');
    front.pump();
    expect(front.copy.version).toBe(before + 1);
    expect(front.copy.decide('card', '04A1B2C3', Date.now())).toEqual({
      granted: false,
      reason: 'unknown_credential',
    });
    expect(front.copy.decide('card', '0BB0', Date.now()).granted).toBe(true);
    // Nothing changed for the lobby: no message for it.
    expect(sent.filter((m) => m.doorId === 'lobby' && m.channel === 'sync/delta')).toHaveLength(0);
  });

  it('follows suspensions, schedules, group changes and lockdown', async () => {
    const front = follow('front');
    const { store } = b.opened;
    const settle = async (what: string) => {
      const count = sent.length;
      await until(() => sent.length > count, 3000, what);
      front.pump();
    };
    store.people.setSuspended('ben', true);
    await settle('suspension');
    expect(front.copy.decide('card', '0BB0', Date.now()).reason).toBe('unknown_credential');

    // 2026-11-27 is a Friday; a Saturday-only schedule refuses on Friday and grants on Saturday.
    store.schedules.set('sat', 'Saturday', [{ day: 'sat', from: '00:00', to: '24:00' }]);
    store.groups.setSchedule('residents', 'sat');
    await settle('schedule');
    const friday = Date.UTC(2026, 10, 27, 12);
    expect(front.copy.decide('card', '04A1B2C3', friday).reason).toBe('outside_schedule');
    expect(front.copy.decide('card', '04A1B2C3', friday + 86_400_000).granted).toBe(true);

    store.doors.setMode('front', 'lockdown');
    await settle('lockdown');
    expect(front.copy.decide('card', '04A1B2C3', friday + 86_400_000).reason).toBe('lockdown');

    store.groups.removeDoor('residents', 'front');
    await settle('group change');
    expect(front.copy.size).toBe(0);
  });

  it("follows a person's access window: bounded while it lasts, left out once it has ended", async () => {
    const front = follow('front');
    front.pump();
    const now = Date.now();
    const hour = 3_600_000;
    const settle = async (what: string) => {
      const count = sent.length;
      await until(() => sent.length > count, 3000, what);
      front.pump();
    };
    // A window that starts tomorrow: the door has the card, and refuses it until then without the hub.
    b.cli((store) => store.people.setWindow('anna', { from: now + 24 * hour, until: now + 48 * hour }));
    await settle('window set');
    expect(front.copy.decide('card', '04A1B2C3', now).reason).toBe('not_yet_valid');
    expect(front.copy.decide('keypad', '424242', now).reason).toBe('not_yet_valid');
    expect(front.copy.decide('card', '04A1B2C3', now + 25 * hour).granted).toBe(true);
    expect(front.copy.decide('card', '04A1B2C3', now + 48 * hour).reason).toBe('expired');
    // A window that has ended: the door is not handed the person's credentials at all.
    b.cli((store) => store.people.setWindow('anna', { from: null, until: now - hour }));
    await settle('window ended');
    expect(front.copy.decide('card', '04A1B2C3', now).reason).toBe('unknown_credential');
    expect(front.copy.decide('keypad', '424242', now).reason).toBe('unknown_credential');
    expect(front.copy.decide('card', '0BB0', now).granted).toBe(true); // Ben is not concerned
    // Cleared: back as before.
    b.cli((store) => store.people.setWindow('anna', { from: null, until: null }));
    await settle('window cleared');
    expect(front.copy.decide('card', '04A1B2C3', now).granted).toBe(true);
  });

  it('after a burst of changes, the retained snapshot catches up to the latest version', async () => {
    for (const card of ['A101', 'A201', 'A301']) b.opened.store.credentials.addCard('ben', card);
    const front = () => sync.status().find((s) => s.doorId === 'front')!;
    await until(() => front().entries === 6, 3000, 'all three cards computed');
    const snapshotVersion = (payload: string) =>
      (JSON.parse(Buffer.from(JSON.parse(payload).body, 'base64url').toString()) as { version: number })
        .version;
    const lastSnapshot = () =>
      [...sent].reverse().find((m) => m.doorId === 'front' && m.channel === 'sync/snapshot')!;
    await until(
      () => snapshotVersion(lastSnapshot().payload) === front().version,
      5000,
      'snapshot at the latest version',
    );
    const late = new DoorCopy('front', b.issuer.publicKey);
    expect(late.apply(lastSnapshot().payload)).toEqual({ applied: true, version: front().version });
    expect(late.decide('card', 'A301', Date.now()).granted).toBe(true);
  });

  it('re-reads a big door, merging every group of a credential, and keeps revocations made meanwhile', async () => {
    const { store } = b.opened;
    store.schedules.set('night', 'Night', [{ day: 'mon', from: '22:00', to: '06:00' }]);
    store.groups.add({ id: 'everyone', name: 'Everyone' });
    store.groups.add({ id: 'nights', name: 'Nights', scheduleId: 'night' });
    store.transaction(() => {
      for (let i = 0; i < 4500; i++) {
        const id = `q${String(i).padStart(5, '0')}`;
        store.people.add({ id, name: `Q ${i}`, kind: 'resident' });
        store.groups.addMember('everyone', id);
        if (i % 2 === 0) store.groups.addMember('nights', id); // two rows per credential
        store.credentials.addCard(id, (0x50000000 + i).toString(16), {
          id: `c_q${String(i).padStart(5, '0')}`,
        });
      }
    });
    store.groups.addDoor('nights', 'lobby');
    store.groups.addDoor('everyone', 'lobby');
    await sync.idle();
    const lobby = follow('lobby');
    lobby.pump();
    expect(lobby.copy.size).toBe(4500);

    const reread = sync.resync();
    await new Promise((resolve) => setImmediate(resolve));
    store.credentials.revoke('c_q04499', 'lost');
    await reread;
    await sync.idle();
    lobby.pump();
    const now = Date.now();
    expect(lobby.copy.size).toBe(4499);
    expect(lobby.copy.decide('card', (0x50000000 + 4499).toString(16), now).reason).toBe(
      'unknown_credential',
    );
    // 'everyone' has no schedule, so every card opens at any time, whatever 'nights' says.
    const friday = Date.UTC(2026, 10, 27, 12);
    const refused: number[] = [];
    for (let i = 0; i < 4499; i++) {
      if (!lobby.copy.decide('card', (0x50000000 + i).toString(16), friday).granted) refused.push(i);
    }
    expect(refused).toEqual([]);
  });

  it('tracks acks per door: version applied, when, and how stale the copy is', async () => {
    const [front] = sync.status();
    expect(front).toMatchObject({ doorId: 'front', appliedVersion: null, inSync: false, entries: 3 });
    b.bus.emit('doorInput', {
      doorId: 'front',
      type: 'sync_ack',
      data: { version: front!.version, deviceId: 'reader-1' },
    });
    expect(sync.status()[0]).toMatchObject({ appliedVersion: front!.version, inSync: true, staleMs: 0 });
    expect(sync.status()[0]!.devices).toEqual([
      expect.objectContaining({ deviceId: 'reader-1', appliedVersion: front!.version }),
    ]);

    b.opened.store.credentials.revoke('c_card2');
    await until(() => sync.status()[0]!.version > front!.version, 3000, 'new version');
    expect(sync.status()[0]).toMatchObject({ inSync: false, appliedVersion: front!.version });

    // Acks for versions never published, or garbage, change nothing.
    b.bus.emit('doorInput', { doorId: 'front', type: 'sync_ack', data: { version: 10_000 } });
    b.bus.emit('doorInput', { doorId: 'front', type: 'sync_ack', data: { version: 'x' } });
    b.bus.emit('doorInput', { doorId: 'nowhere', type: 'sync_ack', data: { version: 1 } });
    expect(sync.status()[0]).toMatchObject({ inSync: false, appliedVersion: front!.version });
  });

  it('keeps versions increasing across a restart of the hub', async () => {
    const first = sync.status().find((s) => s.doorId === 'front')!.version;
    await sync.stop();
    sync = startSync();
    await sync.start();
    await sync.idle();
    expect(sync.status().find((s) => s.doorId === 'front')!.version).toBeGreaterThan(first);
  });

  it('does not sync PINs when no PIN key is given', async () => {
    await sync.stop();
    sent = [];
    sync = startSync({ pins: false });
    await sync.start();
    await sync.idle();
    const front = follow('front');
    front.pump();
    expect(front.copy.size).toBe(2);
    expect(front.copy.decide('keypad', '424242', Date.now()).reason).toBe('unknown_credential');
  });
});

describe('door copy', () => {
  it('refuses forged, tampered, foreign and out-of-order messages', () => {
    const front = follow('front');
    front.pump();
    const version = front.copy.version;
    const genuine = sent.find((m) => m.doorId === 'front' && m.channel === 'sync/snapshot')!.payload;

    const stranger = IssuerKey.loadOrCreate(`${b.dataDir}/stranger`);
    const forged = signSyncBody(
      {
        v: 1,
        type: 'snapshot',
        door: 'front',
        version: version + 5,
        issuedAt: 0,
        mode: 'unlocked',
        unlockMs: 5000,
        timeZone: 'UTC',
        holidays: [],
        entries: [],
      },
      stranger.privateKey,
    );
    expect(front.copy.apply(JSON.stringify(forged))).toMatchObject({ applied: false, reason: 'invalid' });

    const tampered = JSON.parse(genuine) as { body: string; sig: string };
    tampered.body = Buffer.from(
      Buffer.from(tampered.body, 'base64url').toString().replace('"front"', '"lobby"'),
    ).toString('base64url');
    expect(front.copy.apply(JSON.stringify(tampered))).toMatchObject({ applied: false, reason: 'invalid' });

    const lobbySnapshot = sent.find((m) => m.doorId === 'lobby')!.payload;
    expect(front.copy.apply(lobbySnapshot)).toMatchObject({ applied: false, reason: 'other_door' });
    expect(front.copy.apply(genuine)).toMatchObject({ applied: false, reason: 'old' });

    const gap = signSyncBody(
      {
        v: 1,
        type: 'delta',
        door: 'front',
        version: version + 2,
        prev: version + 1,
        issuedAt: 0,
        put: [],
        del: ['c_card1'],
      },
      b.issuer.privateKey,
    );
    expect(front.copy.apply(JSON.stringify(gap))).toMatchObject({ applied: false, reason: 'gap' });
    for (const junk of ['', 'null', '{"body":"x","sig":"y"}', '[]']) {
      expect(front.copy.apply(junk)).toMatchObject({ applied: false, reason: 'invalid' });
    }
    expect(front.copy.version).toBe(version);
    expect(front.copy.decide('card', '04A1B2C3', Date.now()).granted).toBe(true);
  });
});
