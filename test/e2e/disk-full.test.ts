// The hub process with its data dir on a small real tmpfs filled to the last byte while a door
// presents cards (docs/outages.md, "Disk full and power cuts"). Needs root to mount; skipped otherwise.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openHubStore } from '../../hub/open-store.js';
import { cli, connectDevice, type HubProcess, spawnHub } from '../helpers/hub.js';
import { fillDisk, mountTmpfs, unmountTmpfs, until } from '../helpers/tmpfs.js';

const mount = mountTmpfs('24m');

interface Answer {
  id: string;
  granted: boolean;
  reason: string;
}

describe.skipIf(mount === null)('the hub on a full disk (real tmpfs)', () => {
  const dir = path.join(mount ?? '', 'data');
  let hub: HubProcess | null = null;
  afterAll(async () => {
    if (hub && hub.child.exitCode === null) {
      hub.child.kill('SIGKILL');
      await hub.exited;
    }
    if (mount) unmountTmpfs(mount);
  });

  it('keeps granting and denying, alarms once, logs little, and stores every answer once space returns', async () => {
    mkdirSync(dir, { recursive: true });
    const cards = { ada: '04A22B1C', bob: '04B0B0B0', cy: '04C1C1C1' } as const;
    // Set up the building directly in the store (the CLI is exercised below, on the full disk).
    const opened = openHubStore(dir);
    const { store } = opened;
    store.doors.add({ id: 'front', name: 'front' });
    store.groups.add({ id: 'residents', name: 'residents' });
    store.groups.addDoor('residents', 'front');
    for (const [id, card] of Object.entries(cards)) {
      store.people.add({ id, name: id, kind: 'resident' });
      store.credentials.addCard(id, card);
      store.groups.addMember('residents', id);
    }
    store.people.setSuspended('bob', true);
    const secret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
    opened.close();
    hub = await spawnHub(dir, {
      GATEHOUSE_STORAGE_RESERVE_MB: '2',
      GATEHOUSE_STORAGE_HELD_EVENTS: '100000',
      // One test device carries 400/s, far over a reader's budget: this test is about the disk.
      GATEHOUSE_MQTT_LIMITS_CREDENTIALS_PER_SECOND: '5000',
      GATEHOUSE_MQTT_LIMITS_CREDENTIAL_BURST: '5000',
      GATEHOUSE_MQTT_LIMITS_MAX_UNANSWERED_PER_DEVICE: '256',
    });
    const client = await connectDevice(hub.mqttPort, 'front-reader', secret);
    await client.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
    const answers = new Map<string, Answer>();
    client.on('message', (_t, payload) => {
      const a = JSON.parse(payload.toString()) as Answer;
      answers.set(a.id, a);
    });

    const logLinesBefore = hub.logs.length;
    fillDisk(path.join(mount!, 'filler'));
    const sent: Array<{ id: string; who: keyof typeof cards; cySuspended: boolean }> = [];
    let cySuspended = false;
    const suspendCy = cli(dir, ['person', 'suspend', 'cy']).then((r) => {
      // Refused (non-zero) is acceptable on a full disk; acknowledged means enforced from now on.
      if (r.code === 0) cySuspended = true;
      return r;
    });
    // About 400 presentations a second for 5 s.
    for (let i = 0; i < 2000; i++) {
      const who = (['ada', 'bob', 'cy'] as const)[i % 3]!;
      const id = `p-${i}`;
      sent.push({ id, who, cySuspended });
      client.publish(
        'gatehouse/door/front/credential',
        JSON.stringify({ id, kind: 'card', value: cards[who] }),
        { qos: 1 },
      );
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 25));
    }
    const suspended = await suspendCy;
    await until(() => answers.size === sent.length, 20_000);

    for (const s of sent) {
      const a = answers.get(s.id)!;
      if (s.who === 'ada') expect(a, s.id).toMatchObject({ granted: true, reason: 'granted' });
      if (s.who === 'bob') expect(a, s.id).toMatchObject({ granted: false, reason: 'suspended' });
      // Once the CLI said the suspension was saved, Cy is refused (deny wins).
      if (s.who === 'cy' && s.cySuspended) expect(a, s.id).toMatchObject({ granted: false });
    }
    if (suspended.code !== 0) expect(suspended.stderr).not.toBe('');

    // One alarm line and a few summarised ones, not one per presentation.
    const during = hub.logs.slice(logLinesBefore);
    expect(during.filter((l) => String(l.msg).startsWith('disk full')).length).toBe(1);
    expect(during.length).toBeLessThan(40);

    rmSync(path.join(mount!, 'filler'));
    const dbFile = path.join(dir, 'gatehouse.db');
    const count = (type: string) => {
      const db = new Database(dbFile, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM events WHERE type = ?').get(type) as { n: number }).n;
      } finally {
        db.close();
      }
    };
    await until(() => count('storage.disk_ok') === 1, 20_000);
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
    client.end(true);

    const db = new Database(dbFile, { readonly: true });
    const stored = (
      db
        .prepare("SELECT json_extract(data, '$.request') AS r FROM events WHERE type = 'decision'")
        .all() as Array<{ r: string | null }>
    )
      .map((row) => row.r)
      .filter((r): r is string => typeof r === 'string' && r.startsWith('p-'));
    db.close();
    expect(stored.length).toBe(new Set(stored).size); // none twice
    expect(new Set(stored)).toEqual(new Set(answers.keys())); // every answer, nothing lost
    expect(count('alarm.disk_full')).toBe(1);
    expect(count('events.lost')).toBe(0);
    const verify = await cli(dir, ['events', 'verify']);
    expect(verify.stdout).toMatch(/event log OK/);
  }, 90_000);
});
