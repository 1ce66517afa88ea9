// The hub as an operator runs it: `gatehouse start` in its own process, configured with the CLI,
// restarted, stopped with SIGTERM and killed with SIGKILL mid-burst.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cli,
  connectDevice,
  connectDoorDevice,
  type HubProcess,
  present,
  removeDir,
  spawnHub,
  tempDataDir,
} from '../helpers/hub.js';

const dirs: string[] = [];
const procs: HubProcess[] = [];

afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  for (const d of dirs.splice(0)) removeDir(d);
});

async function setUpBuilding(dir: string): Promise<string> {
  const steps = [
    ['door', 'add', 'front'],
    ['person', 'add', 'Ada', '--id', 'ada'],
    ['credential', 'add', 'ada', '--card', '04A22B1C'],
    ['group', 'add', 'residents'],
    ['group', 'door', 'add', 'residents', 'front'],
    ['group', 'member', 'add', 'residents', 'ada'],
  ];
  for (const args of steps) {
    const r = await cli(dir, args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  const device = await cli(dir, ['--json', 'device', 'add', 'front-reader', '--door', 'front']);
  expect(device.code).toBe(0);
  return (JSON.parse(device.stdout) as { secret: string }).secret;
}

describe('the hub process', () => {
  it('keeps everything across a restart, and says offline on SIGTERM', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const secret = await setUpBuilding(dir);

    const first = await spawnHub(dir);
    procs.push(first);
    const watcher = await connectDoorDevice(first.mqttPort, 'front-reader', secret, ['front']);
    const d1 = await present(watcher, 'front', { id: 'a', kind: 'card', value: '04A22B1C' });
    expect(d1.granted).toBe(true);
    const integrationAccount = await cli(dir, ['--json', 'device', 'add', 'observer', '--integration']);
    const observerSecret = (JSON.parse(integrationAccount.stdout) as { secret: string }).secret;
    const observer = await connectDevice(first.mqttPort, 'observer', observerSecret);
    const states: string[] = [];
    observer.on('message', (topic, payload) => {
      if (topic === 'gatehouse/bridge/state')
        states.push((JSON.parse(payload.toString()) as { state: string }).state);
    });
    observer.on('error', () => undefined);
    await observer.subscribeAsync('gatehouse/bridge/state', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // The exit can be noticed before the last socket data is read: give the client a moment.
    for (let i = 0; i < 50 && states.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(states).toEqual(['online', 'offline']);
    observer.end(true);
    watcher.end(true);

    const second = await spawnHub(dir);
    procs.push(second);
    const device = await connectDoorDevice(second.mqttPort, 'front-reader', secret, ['front']);
    const d2 = await present(device, 'front', { id: 'b', kind: 'card', value: '04A22B1C' });
    expect(d2.granted).toBe(true);
    await device.endAsync();
    const verify = await cli(dir, ['events', 'verify']);
    expect(verify.stdout).toMatch(/event log OK/);
  }, 90_000); // a dozen CLI and hub processes: slow on a loaded 2-core machine, not a speed target

  it('loses no answered decision when killed with SIGKILL mid-burst, and the chain still verifies', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const secret = await setUpBuilding(dir);
    // A burst far beyond a reader's credential budget: every credential must be decided, not rate_limited.
    writeFileSync(
      path.join(dir, 'config.yaml'),
      'mqtt:\n  limits:\n    credentialsPerSecond: 100000\n    credentialBurst: 100000\n    maxUnansweredPerDevice: 10000\n    maxUnanswered: 100000\n',
    );
    const hub = await spawnHub(dir);
    procs.push(hub);
    const device = await connectDevice(hub.mqttPort, 'front-reader', secret);
    await device.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });

    const answered = new Set<string>();
    device.on('message', (_t, payload) => {
      const d = JSON.parse(payload.toString()) as { id: string };
      answered.add(d.id);
      if (answered.size === 60) hub.child.kill('SIGKILL');
    });
    device.on('error', () => undefined);
    for (let i = 0; i < 400 && hub.child.exitCode === null && hub.child.signalCode === null; i++) {
      device.publish(
        'gatehouse/door/front/credential',
        JSON.stringify({ id: `burst-${i}`, kind: 'card', value: i % 2 ? '04A22B1C' : '0000BEEF' }),
        { qos: 1 },
      );
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 2));
    }
    await hub.exited;
    device.end(true);
    expect(answered.size).toBeGreaterThanOrEqual(60);

    // The next start recovers whatever the kill left between the answer and the database.
    const restarted = await spawnHub(dir);
    procs.push(restarted);
    restarted.child.kill('SIGTERM');
    expect(await restarted.exited).toBe(0);

    const db = new Database(path.join(dir, 'gatehouse.db'), { readonly: true });
    const stored = new Set(
      (
        db
          .prepare("SELECT json_extract(data, '$.request') AS r FROM events WHERE type = 'decision'")
          .all() as Array<{ r: string }>
      ).map((row) => row.r),
    );
    db.close();
    const lost = [...answered].filter((id) => !stored.has(id));
    expect(lost).toEqual([]);
    const verify = await cli(dir, ['events', 'verify']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/event log OK/);
  });

  it('refuses bad CLI arguments with a clear message and a non-zero exit', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const noKind = await cli(dir, ['credential', 'add', 'nobody', '--card', '04A2']);
    expect(noKind.code).toBe(1);
    expect(noKind.stderr).toMatch(/person 'nobody' not found/);
    const both = await cli(dir, ['credential', 'add', 'x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --card or --pin/);
    const unknown = await cli(dir, ['frobnicate']);
    expect(unknown.code).toBe(2);
    const badSchedule = await cli(dir, ['schedule', 'set', 's', 'someday@07:00-19:00']);
    expect(badSchedule.code).toBe(2);
    expect(badSchedule.stderr).toMatch(/not a day/);
    const help = await cli(dir, ['--help']);
    expect(help.code).toBe(0);
    for (const cmd of [
      'start',
      'door',
      'device',
      'person',
      'credential',
      'group',
      'schedule',
      'user',
      'backup',
      'restore',
      'events',
    ]) {
      expect(help.stdout).toContain(cmd);
    }
  });
});
