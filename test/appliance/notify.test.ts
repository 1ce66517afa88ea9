// sd_notify and the watchdog (hub/systemd/) against a fake NOTIFY_SOCKET: the real built hub started as
// systemd would start it, READY=1 then WATCHDOG=1 pings; a frozen process (SIGSTOP) sends none; a hub whose
// access-path parts are not running or whose event loop stalled does not ping.
import { afterEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { silentLogger } from '../../hub/logger.js';
import { SystemdLink } from '../../hub/systemd/index.js';
import {
  MAX_STATUS_CHARS,
  readNotifyEnvironment,
  SystemdNotifier,
  statusText,
} from '../../hub/systemd/notify.js';
import { HubHealth, lagBoundMs } from '../../hub/systemd/watchdog.js';
import { type HubProcess, removeDir, spawnHub, startHub, tempDataDir } from '../helpers/hub.js';
import { type FakeNotifySocket, fakeNotifySocket } from './notify-socket.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the event loop is blocked, as by a runaway computation
  }
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function tempDir(): string {
  const dir = tempDataDir();
  cleanup.push(() => removeDir(dir));
  return dir;
}

function socketIn(dir: string): FakeNotifySocket {
  const socket = fakeNotifySocket(dir);
  cleanup.push(() => socket.close());
  return socket;
}

describe('the hub under systemd (spawned as `gatehouse start` with NOTIFY_SOCKET and WATCHDOG_USEC)', () => {
  it('says READY=1 once deciding, pings while running, stops pinging while frozen, says STOPPING=1', async () => {
    const notify = socketIn(tempDir());
    const dataDir = tempDir();
    // A 2 s watchdog: a ping every second.
    const hub: HubProcess = await spawnHub(dataDir, {
      NOTIFY_SOCKET: notify.path,
      WATCHDOG_USEC: '2000000',
    });
    cleanup.push(async () => {
      if (hub.child.exitCode === null && hub.child.signalCode === null) {
        hub.child.kill('SIGCONT');
        hub.child.kill('SIGKILL');
        await hub.exited;
      }
    });

    await expect.poll(() => notify.messages.some((m) => m.fields.READY === '1')).toBe(true);
    const ready = notify.messages.findIndex((m) => m.fields.READY === '1');
    expect(notify.messages[ready]!.fields.STATUS).toBe('deciding');
    // Nothing before READY=1 pinged: the watchdog starts once every part runs.
    expect(notify.messages.slice(0, ready).some((m) => m.fields.WATCHDOG)).toBe(false);
    await expect.poll(() => notify.pings(), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect(notify.statuses()).toContain('deciding; 0 doors');
    expect(hub.logs.some((l) => l.msg === 'told systemd the hub is ready' && l.watchdogSeconds === 2)).toBe(
      true,
    );

    // A frozen event loop (here the whole process) sends nothing: systemd would abort it after 2 s.
    hub.child.kill('SIGSTOP');
    await sleep(300); // a datagram already in flight
    const frozenAt = notify.pings();
    await sleep(3000);
    expect(notify.pings()).toBe(frozenAt);

    // Thawed, the first check sees the 3 s stall (beyond the bound) and does not ping; then pings resume.
    hub.child.kill('SIGCONT');
    await expect
      .poll(() => notify.statuses().some((s) => s.startsWith('unhealthy: event loop stalled')))
      .toBe(true);
    const afterStall = notify.pings();
    await expect.poll(() => notify.pings(), { timeout: 15_000 }).toBeGreaterThan(afterStall);

    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
    const stopping = notify.messages.findIndex((m) => m.fields.STOPPING === '1');
    expect(stopping).toBeGreaterThan(ready);
    // No ping after STOPPING=1: a stopping hub is not a healthy one.
    expect(notify.messages.slice(stopping).some((m) => m.fields.WATCHDOG)).toBe(false);
  }, 90_000);
});

describe('the watchdog check (a real hub in this process)', () => {
  let hub: Hub | null = null;
  afterEach(async () => {
    await hub?.stop();
    hub = null;
  });

  it('pings while the access path runs, and stops pinging when its parts stop', async () => {
    const notify = socketIn(tempDir());
    hub = await startHub(tempDir());
    const env = { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '600000' };
    const link = new SystemdLink(await SystemdNotifier.fromEnvironment(silentLogger(), env), silentLogger());
    link.started(hub);
    await expect.poll(() => notify.pings()).toBeGreaterThanOrEqual(3);

    await hub.stop(); // store, doors and decisions no longer run
    await expect.poll(() => notify.statuses().at(-1)).toMatch(/^unhealthy: part (store|doors|decisions) is/);
    const unhealthyAt = notify.pings();
    await sleep(1200); // four check intervals
    expect(notify.pings()).toBe(unhealthyAt);
    link.stopping();
    await expect.poll(() => notify.messages.some((m) => m.fields.STOPPING === '1')).toBe(true);
  });

  it('counts an event-loop stall beyond the bound as unhealthy, once', async () => {
    hub = await startHub(tempDir());
    const health = new HubHealth(hub, { maxLagMs: 300 });
    cleanup.push(() => health.stop());
    await sleep(100);
    expect(health.check()).toMatchObject({ healthy: true });
    busyWait(800);
    await sleep(50); // the loop turns once more, so the stall is recorded
    const verdict = health.check();
    expect(verdict.healthy).toBe(false);
    expect(verdict.healthy ? '' : verdict.reason).toMatch(/^event loop stalled \d+ ms \(bound 300 ms\)$/);
    await sleep(100);
    expect(health.check()).toMatchObject({ healthy: true });
  });

  it('derives the lag bound from the watchdog period', () => {
    expect(lagBoundMs(30_000)).toBe(10_000);
    expect(lagBoundMs(100)).toBe(250);
  });
});

describe('the notify environment (hostile or odd values)', () => {
  it('takes a socket path and a watchdog period, and removes them from the environment', () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' };
    expect(readNotifyEnvironment(env, 42)).toEqual({
      socket: '/run/systemd/notify',
      watchdogMs: 30_000,
      problem: null,
    });
    expect(env).toEqual({});
  });

  it('ignores a watchdog meant for another process (WATCHDOG_PID)', () => {
    const env = { NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' };
    expect(readNotifyEnvironment(env, 42)).toMatchObject({
      socket: '/run/n',
      watchdogMs: null,
      problem: null,
    });
    const ours = { NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' };
    expect(readNotifyEnvironment(ours, 42).watchdogMs).toBe(30_000);
  });

  it.each([
    ['@abstract-name', /abstract socket/],
    ['relative/notify', /absolute socket path/],
    [`/${'x'.repeat(200)}`, /at most 107 bytes/],
  ])('refuses NOTIFY_SOCKET=%s with a reason', (value, problem) => {
    const found = readNotifyEnvironment({ NOTIFY_SOCKET: value, WATCHDOG_USEC: '1000000' });
    expect(found.socket).toBeNull();
    expect(found.watchdogMs).toBeNull();
    expect(found.problem).toMatch(problem);
  });

  it.each(['abc', '-5', '0', '1e9', '99999999999999999999'])('refuses WATCHDOG_USEC=%s', (usec) => {
    const found = readNotifyEnvironment({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: usec }, 42);
    expect(found.watchdogMs).toBeNull();
    expect(found.problem).toMatch(/WATCHDOG_USEC/);
  });

  it('is inactive without NOTIFY_SOCKET (npm start, Docker)', async () => {
    const notifier = await SystemdNotifier.fromEnvironment(silentLogger(), {});
    expect(notifier.active).toBe(false);
    notifier.ready('x');
    notifier.watchdog();
  });

  it('keeps a STATUS= line on one line and bounded, so it cannot add fields', () => {
    expect(statusText('ok\nWATCHDOG=1\r\n')).toBe('ok WATCHDOG=1');
    expect(statusText('x'.repeat(1000))).toHaveLength(MAX_STATUS_CHARS);
  });

  it('survives a socket nobody listens on (systemd gone): no throw, the hub goes on', async () => {
    const dir = tempDir();
    const notifier = await SystemdNotifier.fromEnvironment(silentLogger(), {
      NOTIFY_SOCKET: `${dir}/gone.sock`,
    });
    expect(notifier.active).toBe(true);
    for (let i = 0; i < 5; i++) notifier.watchdog();
    notifier.close();
  });
});
