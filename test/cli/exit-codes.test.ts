// docs/cli.md: a usage mistake exits 2 (unknown command, missing argument, unknown option, bad value),
// a refusal by the store or the hub exits 1, whichever subcommand it is.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../helpers/hub.js';
import { runIn } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = tempDataDir();
});
afterEach(() => removeDir(dir));

describe('exit codes', () => {
  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['door'], /Usage: gatehouse door/],
    [['door', 'add'], /missing required argument 'id'/],
    [['door', 'add', 'front', '--bogus'], /unknown option '--bogus'/],
    [['credential', 'add'], /missing required argument 'person'/],
    [['person', 'add', 'Ada', '--kind', 'alien'], /Allowed choices are resident, staff, guest/],
    [['group', 'member', 'add', 'residents'], /missing required argument/],
    [['events', 'list', '-n', 'lots'], /--limit must be a whole number/],
    [['door', 'mode', 'front', 'open-sesame'], /mode must be normal, lockdown or unlocked/],
    [['schedule', 'set', 'office', 'weekdays'], /is not an interval/],
    [['credential', 'add', 'ada', '--card', '04A1', '--from', 'tomorrow'], /is not a date/],
  ])('%j is a usage mistake: exit 2', async (args, message) => {
    const res = await runIn(dir, args);
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(2);
  });

  it('a refusal (unknown person, duplicate door) exits 1', async () => {
    const unknown = await runIn(dir, ['credential', 'add', 'nobody', '--card', '04A1B2C3']);
    expect(unknown.stderr).toMatch(/nobody/);
    expect(unknown.code).toBe(1);
    expect((await runIn(dir, ['door', 'add', 'front'])).code).toBe(0);
    const twice = await runIn(dir, ['door', 'add', 'front']);
    expect(twice.stderr).toMatch(/front/);
    expect(twice.code).toBe(1);
  });

  it('a command that needs the running hub exits 1 when it is not running, saying so', async () => {
    const res = await runIn(dir, ['door', 'unlock', 'front']);
    expect(res.stderr).toMatch(/the hub is not running/);
    expect(res.code).toBe(1);
  });

  it('help exits 0', async () => {
    expect((await runIn(dir, ['--help'])).code).toBe(0);
    expect((await runIn(dir, ['door', '--help'])).code).toBe(0);
  });
});
