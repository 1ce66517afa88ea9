import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerCodeCommands } from '../../hub/cli/codes.js';
import type { Config } from '../../hub/config/index.js';
import { CappedKeypadLockout } from '../../hub/offline/cap.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { seedBuilding, type TempData, tempData, ZONE } from './helpers.js';

describe('gatehouse code / keypad commands', () => {
  let data: TempData;
  let out: string[];
  let err: string[];
  beforeEach(() => {
    data = tempData();
    const o = data.open();
    seedBuilding(o);
    o.close();
    out = [];
    err = [];
  });
  afterEach(() => data.cleanup());

  /** Runs one command as `npx gatehouse …` would: a fresh store connection per command. */
  const run = async (...args: string[]) => {
    const program = new Command('gatehouse').option('--json').exitOverride();
    const config = { dataDir: data.dataDir, timeZone: ZONE } as unknown as Config;
    registerCodeCommands(program, {
      io: { out: (line) => out.push(line), err: (line) => err.push(line) },
      withStore: async (fn) => {
        const opened = data.open();
        try {
          await fn(opened.store, config, program.opts<{ json?: boolean }>().json === true, opened);
        } finally {
          opened.close();
        }
      },
    });
    await program.parseAsync(args, { from: 'user' });
  };

  it('issues a daily code that opens the door, lists it, and revokes it', async () => {
    await run('code', 'issue', '--guest', 'plumber', '--door', 'front', '--daily');
    const digits = /^code:\s+(\d{9})$/m.exec(out.join('\n'))?.[1];
    const serial = /serial:\s+(oc-[a-z2-7]{12})/.exec(out.join('\n'))?.[1];
    expect(digits).toBeDefined();
    expect(serial).toBeDefined();

    const opened = data.open();
    expect(data.codes(opened).verify('front', digits!)?.granted).toBe(true);
    opened.close();

    out = [];
    await run('code', 'list');
    expect(out.join('\n')).toContain(serial!);
    expect(out.join('\n')).toContain('plumber');
    expect(out.join('\n')).not.toContain(digits!);

    out = [];
    await run('code', 'revoke', serial!, '--reason', 'lost');
    expect(out).toEqual([`code ${serial} revoked`]);
    const after = data.open();
    expect(data.codes(after).verify('front', digits!)).toMatchObject({ granted: false, reason: 'revoked' });
  });

  it('prints JSON with --json and refuses ambiguous requests', async () => {
    await run('--json', 'code', 'issue', '--group', 'residents', '--hours', '6');
    const issued = JSON.parse(out.join('\n')) as { digits: string; type: string; scope: string };
    expect(issued).toMatchObject({ type: 'hourly', scope: 'group:residents' });
    expect(issued.digits).toMatch(/^\d{12}$/);
    await expect(run('code', 'issue', '--door', 'front', '--site', '--daily')).rejects.toThrow(
      /exactly one of/,
    );
    await expect(run('code', 'issue', '--door', 'front')).rejects.toThrow(/one of --daily/);
    await expect(run('code', 'revoke', 'nonsense')).rejects.toThrow(/serial/);
  });

  it('re-enables a keypad disabled by the daily cap', async () => {
    const opened: OpenedStore = data.open();
    const lockout = new CappedKeypadLockout(
      {},
      { keypads: opened.store.keypadCap, dailyCap: 3, emitEvent: () => {} },
    );
    const t = Date.now();
    for (let i = 0; i < 3; i++) lockout.recordFailure('front/kp1', t + i);
    opened.close();

    await run('keypad', 'list');
    expect(out.join('\n')).toContain('front/kp1');
    out = [];
    await run('keypad', 'enable', 'front', 'kp1');
    expect(out).toEqual(['keypad front/kp1 enabled']);
    const after = data.open();
    expect(
      new CappedKeypadLockout(
        {},
        { keypads: after.store.keypadCap, dailyCap: 3, emitEvent: () => {} },
      ).isLocked('front/kp1', t + 10),
    ).toEqual({
      locked: false,
    });
  });

  it('reports the guessing figure per door and exports the secret only on request', async () => {
    await run('code', 'guess-risk');
    const text = out.join('\n');
    expect(text).toMatch(/front\s+\S+\s+1 in [\d,]+\s+1 in 10,000\s+ok/);
    out = [];
    await run('code', 'secret-export');
    expect(out).toEqual([readFileSync(join(data.dataDir, 'code.key'), 'utf8').trim()]);
    expect(err.join('\n')).toMatch(/WARNING/);
  });
});
