// Every admin.* audit event a CLI command writes names the operator as `cli:<os user>` (docs/data.md),
// whichever noun wrote it; a reason stays a reason.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { osUser } from '../../hub/cli/run-command.js';
import { openHubStore } from '../../hub/open-store.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';
import { succeedIn } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = tempDataDir();
});
afterEach(() => removeDir(dir));

const ok = (args: string[], stdin?: string) => succeedIn(dir, args, stdin);

describe('the CLI records cli:<os user> as the actor', () => {
  it('on the admin events of every noun', async () => {
    await ok(['door', 'add', 'front']);
    await ok(['person', 'add', 'Ada Lovelace', '--id', 'ada']);
    await ok(['credential', 'add', 'ada', '--card', '04A1B2C3']);
    await ok(['credential', 'add', 'ada', '--pin-stdin'], '482913');
    await ok(['person', 'suspend', 'ada']);
    await ok(['person', 'unsuspend', 'ada']);
    await ok(['schedule', 'set', 'office', 'mon-fri@07:00-19:00']);
    await ok(['holiday', 'add', '2026-12-25', 'Christmas']);
    await ok(['group', 'add', 'residents', '--schedule', 'office']);
    await ok(['group', 'door', 'add', 'residents', 'front']);
    await ok(['group', 'member', 'add', 'residents', 'ada']);
    await ok(['device', 'add', 'front-reader', '--door', 'front']);
    await ok(['user', 'add', 'alice', '--role', 'admin'], 'a long admin password');
    await ok(['door', 'mode', 'front', 'lockdown']);
    const list = JSON.parse(await ok(['--json', 'credential', 'list', '--person', 'ada'])) as Array<{
      id: string;
    }>;
    await ok(['credential', 'revoke', list[0]!.id, '--reason', 'card lost']);
    await ok(['person', 'logout-everywhere', 'ada']);
    const issued = await ok(['code', 'issue', '--guest', 'plumber', '--door', 'front', '--daily']);
    const serial = /serial:\s+(oc-[a-z2-7]{12})/.exec(issued)![1]!;
    await ok(['code', 'revoke', serial, '--reason', 'lost']);

    const opened = openHubStore(dir);
    try {
      const admin = opened.store.events.list({ limit: 500, type: 'admin' });
      const types = new Set(admin.map((e) => e.type));
      for (const type of [
        'admin.person.added',
        'admin.credential.added',
        'admin.credential.revoked',
        'admin.user.added',
        'admin.door.mode_changed',
        'admin.person.suspended',
        'admin.code.issued',
        'admin.code.revoked',
      ]) {
        expect(types, type).toContain(type);
      }
      for (const e of admin) expect(e.data.actor, e.type).toBe(`cli:${osUser()}`);
      const revoked = admin.find((e) => e.type === 'admin.credential.revoked')!;
      expect(revoked.data.reason).toBe('card lost');
    } finally {
      opened.close();
    }
  });
});
