// Secrets and the command line (the compiled CLI in a child process, as an operator runs it): PINs are
// never taken from argv (visible in `ps`), they come from a prompt or stdin; `gatehouse config` never
// prints a secret; `user add` retires the first-run setup token; `user remove` ends the user's streams.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openHubStore } from '../../hub/open-store.js';
import { cli, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call, openStream } from '../http/client.js';

let dir: string;

beforeEach(() => {
  dir = tempDataDir();
});

afterEach(() => {
  removeDir(dir);
});

function pinWorks(digits: string): boolean {
  const opened = openHubStore(dir);
  try {
    return opened.store.credentials.find('pin', digits) !== null;
  } finally {
    opened.close();
  }
}

describe('PINs on the command line', () => {
  it('refuses a PIN given as an argument, says how to pass it, and stores nothing', async () => {
    expect((await cli(dir, ['person', 'add', 'Ada', '--id', 'ada'])).code).toBe(0);
    for (const args of [
      ['credential', 'add', 'ada', '--pin', '482913'],
      ['credential', 'add', 'ada', '--pin=482913'],
    ]) {
      const res = await cli(dir, args);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/visible to every user of this machine/);
      expect(res.stderr).toContain('--pin-stdin');
    }
    expect(pinWorks('482913')).toBe(false);
  });

  it('reads the PIN from stdin (--pin-stdin for scripts, --pin without a terminal)', async () => {
    expect((await cli(dir, ['person', 'add', 'Ada', '--id', 'ada'])).code).toBe(0);
    const scripted = await cli(dir, ['credential', 'add', 'ada', '--pin-stdin'], '482913\n');
    expect(scripted.code).toBe(0);
    expect(scripted.stdout).toMatch(/added for 'ada' \(PIN\)/);
    expect(pinWorks('482913')).toBe(true);
    const piped = await cli(dir, ['credential', 'add', 'ada', '--pin'], '735102\n');
    expect(piped.code).toBe(0);
    expect(pinWorks('735102')).toBe(true);
    const empty = await cli(dir, ['credential', 'add', 'ada', '--pin-stdin'], '\n');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no PIN given/);
  });
});

describe('gatehouse config', () => {
  it('never prints the cloud token (or any other secret)', async () => {
    const token = 'cloud-token-that-must-not-leak-9f3a';
    writeFileSync(
      path.join(dir, 'config.yaml'),
      `cloud:\n  enabled: true\n  hubId: hub-1\n  token: ${token}\n  tokenFile: /etc/gatehouse/cloud.token\n`,
    );
    for (const args of [['config'], ['--json', 'config']]) {
      const res = await cli(dir, args);
      expect(res.code).toBe(0);
      expect(res.stdout).not.toContain(token);
      const printed = JSON.parse(res.stdout) as { cloud: Record<string, unknown> };
      expect(printed.cloud.token).toBe('[redacted]');
      expect(printed.cloud.tokenFile).toBe('/etc/gatehouse/cloud.token'); // a path, not a secret
      expect(printed.cloud.hubId).toBe('hub-1');
    }
  });
});

describe('gatehouse user add on a fresh hub', () => {
  it('works without the setup token and retires it', async () => {
    const hub = await startHub(dir);
    try {
      expect(existsSync(path.join(dir, 'setup-token'))).toBe(true);
      const res = await cli(dir, ['user', 'add', 'root', '--role', 'admin'], 'a long admin password\n');
      expect(res.code).toBe(0);
      expect(existsSync(path.join(dir, 'setup-token'))).toBe(false);
      const port = hub.addresses().http.http!;
      const setup = await fetch(`http://127.0.0.1:${port}/api/v1/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'late', password: 'another long password' }),
      });
      expect(setup.status).toBe(409);
    } finally {
      await hub.stop();
    }
  });
});

describe('gatehouse user remove while the user watches the live stream', () => {
  it('ends the stream within a second of the removal', async () => {
    const hub = await startHub(dir);
    try {
      await hub.store.users.add('ivy', 'a long staff password', 'staff');
      const port = hub.addresses().http.http!;
      const login = await call(port, 'POST', '/session', {
        body: { username: 'ivy', password: 'a long staff password' },
      });
      const stream = await openStream(port, login.json.token as string);
      expect(stream.status).toBe(200);
      const removed = await cli(dir, ['user', 'remove', 'ivy']);
      expect(removed.code).toBe(0);
      const removedAt = Date.now(); // committed when the CLI exits
      expect((await stream.ended) - removedAt).toBeLessThan(1000);
    } finally {
      await hub.stop();
    }
  });
});

describe('gatehouse sim code without the code on the command line', () => {
  it('reads the code from stdin and types it on the simulated keypad', async () => {
    const hub = await startHub(dir, { simulation: { door: 'sim-front' } });
    try {
      const typed = await cli(dir, ['sim', 'code', 'sim-front'], '482913\n');
      expect(typed.code).toBe(0);
      expect(typed.stdout).toMatch(/^DENIED \(/);
      const events = hub.store.events.list({ limit: 5, type: 'decision' });
      expect(events.some((e) => e.doorId === 'sim-front')).toBe(true);
    } finally {
      await hub.stop();
    }
  });
});
