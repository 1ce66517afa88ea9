// Commands that need the running hub (`runs: 'hub'`) go over the control socket on the command's own
// route, and the hub records the operator as `cli:<os user>`.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { osUser } from '../../hub/cli/run-command.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { runIn } from './helpers.js';

let dir: string;
let hub: Hub;
beforeEach(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, { simulation: { door: 'sim-front' } });
});
afterEach(async () => {
  await hub.stop();
  removeDir(dir);
});

describe('door unlock through the running hub', () => {
  it('unlocks, and the audit event names cli:<os user>', async () => {
    const res = await runIn(dir, ['door', 'unlock', 'sim-front', '--ms', '2000', '--reason', 'delivery']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("door 'sim-front' unlocked");
    const [event] = hub.store.events.list({ limit: 1, type: 'admin.door.unlocked' });
    expect(event?.doorId).toBe('sim-front');
    expect(event?.data).toMatchObject({ actor: `cli:${osUser()}`, reason: 'delivery' });
  });

  it('is refused in lockdown with the hub’s reason: exit 1', async () => {
    expect((await runIn(dir, ['door', 'mode', 'sim-front', 'lockdown'])).code).toBe(0);
    const res = await runIn(dir, ['door', 'unlock', 'sim-front']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/lockdown/);
  });

  it('clock accept reaches the hub as an admin command', async () => {
    const res = await runIn(dir, ['clock', 'accept']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const [event] = hub.store.events.list({ limit: 1, type: 'admin.clock.accepted' });
    expect(event?.data).toMatchObject({ actor: `cli:${osUser()}` });
  });
});
