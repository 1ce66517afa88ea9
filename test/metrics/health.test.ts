// GET /api/v1/health on a real hub (docs/monitoring.md, "Health"): ok, degraded with a door offline, and
// failing (503) when the store really fails: its database file removed, its directory unwritable.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { DB_FILE_NAME } from '../../hub/store/db.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call } from '../http/client.js';

const hubs: Hub[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.stop().catch(() => undefined);
  for (const clean of cleanups.splice(0).reverse()) clean();
});

async function hubIn(dir: string, extra: Record<string, unknown> = {}): Promise<{ hub: Hub; port: number }> {
  const hub = await startHub(dir, { simulation: { door: 'sim-front' }, ...extra });
  hubs.push(hub);
  return { hub, port: hub.addresses().http.http! };
}

function tempDir(): string {
  const dir = tempDataDir();
  cleanups.push(() => removeDir(dir));
  return dir;
}

/** The report is reused for a second; wait it out. */
const nextReport = () => new Promise((r) => setTimeout(r, 1_100));

describe('GET /api/v1/health', () => {
  it('says ok with one word per part, and nothing about people or doors', async () => {
    const { hub, port } = await hubIn(tempDir());
    hub.store.people.add({ id: 'ada', name: 'Ada Lovelace', kind: 'resident' });
    const health = await call(port, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({
      status: 'ok',
      version: hub.status().version,
      uptimeS: expect.any(Number),
      checks: { store: 'ok', doors: 'ok', broker: 'ok', http: 'ok' },
    });
    const text = JSON.stringify(health.json);
    expect(text).not.toMatch(/Ada|sim-front|127\.0\.0\.1/);
  });

  it('is degraded (still 200) while a door is offline, and says so in fixed words', async () => {
    const { hub, port } = await hubIn(tempDir());
    hub.store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    await nextReport();
    const health = await call(port, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json.status).toBe('degraded');
    expect(health.json.checks).toMatchObject({ doors: 'degraded', store: 'ok' });
    expect(health.json.problems).toEqual(['doors: 1 offline']);
  });

  it('fails (503) when the database file is removed underneath the running hub', async () => {
    const dir = tempDir();
    const { port } = await hubIn(dir);
    expect((await call(port, 'GET', '/health')).status).toBe(200);
    rmSync(path.join(dir, DB_FILE_NAME));
    await nextReport();
    const health = await call(port, 'GET', '/health');
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ status: 'failing', checks: { store: 'failing', broker: 'ok' } });
    expect(health.json.problems).toEqual([
      'store: the database file was removed or replaced while the hub runs',
    ]);
  });

  it('fails (503) while the data directory cannot be written, and recovers after', async (context) => {
    if (process.getuid?.() !== 0) return context.skip(); // chattr needs root
    const dir = tempDir();
    const { port } = await hubIn(dir);
    expect((await call(port, 'GET', '/health')).json.status).toBe('ok');

    // The immutable flag: even root can no longer create or remove files there (as with an SD card the
    // kernel turned read-only; a tmpfs cannot be remounted read-only while the hub holds files open).
    execFileSync('chattr', ['+i', dir]);
    cleanups.push(() => execFileSync('chattr', ['-i', dir]));
    await nextReport();
    const failing = await call(port, 'GET', '/health');
    expect(failing.status).toBe(503);
    expect(failing.json).toMatchObject({ status: 'failing', checks: { store: 'failing', doors: 'ok' } });
    expect(failing.json.problems).toEqual(['store: the data directory is not writable']);

    execFileSync('chattr', ['-i', dir]);
    await nextReport();
    const back = await call(port, 'GET', '/health');
    expect(back.status).toBe(200);
    expect(back.json.status).toBe('ok');
  }, 30_000);
});
