// `gatehouse person list --query`, `person window` and `person access` as an operator types them, in
// this process on a real data directory (the hub stopped: they run on the store).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../helpers/hub.js';
import { runIn, succeedIn } from './helpers.js';

let dir: string;
const previousZone = process.env.GATEHOUSE_TIME_ZONE;
beforeEach(async () => {
  dir = tempDataDir();
  process.env.GATEHOUSE_TIME_ZONE = 'Europe/Berlin';
  await succeedIn(dir, ['door', 'add', 'front', '--name', 'Front entrance']);
  await succeedIn(dir, ['person', 'add', 'Anna Müller', '--id', 'anna']);
  await succeedIn(dir, ['person', 'add', 'Carl', '--id', 'carl', '--kind', 'guest']);
  await succeedIn(dir, ['group', 'add', 'residents']);
  await succeedIn(dir, ['group', 'door', 'add', 'residents', 'front']);
  await succeedIn(dir, ['group', 'member', 'add', 'residents', 'anna']);
  await succeedIn(dir, ['credential', 'add', 'anna', '--card', '04:A2:2B:1C']);
});
afterEach(() => {
  if (previousZone === undefined) delete process.env.GATEHOUSE_TIME_ZONE;
  else process.env.GATEHOUSE_TIME_ZONE = previousZone;
  removeDir(dir);
});

describe('gatehouse person', () => {
  it('list --query finds by name with accents folded; --limit bounds it', async () => {
    expect(await succeedIn(dir, ['person', 'list', '--query', 'muller'])).toMatch(/anna\s+Anna Müller/);
    expect(await succeedIn(dir, ['person', 'list', '--query', 'muller'])).not.toContain('carl');
    const all = await succeedIn(dir, ['person', 'list']);
    expect(all).toContain('anna');
    expect(all).toContain('carl');
    const one = JSON.parse(await succeedIn(dir, ['--json', 'person', 'list', '--limit', '1']));
    expect(one).toHaveLength(1);
    expect((await runIn(dir, ['person', 'list', '--limit', 'x'])).code).not.toBe(0);
  });

  it('window sets building-time bounds with a reason, shows them, and clears them', async () => {
    expect(
      await succeedIn(dir, [
        'person',
        'window',
        'carl',
        '--from',
        '2026-12-01T08:00',
        '--until',
        '2026-12-05',
        '--reason',
        'kitchen job',
      ]),
    ).toBe("person 'carl': access window 2026-12-01 08:00 – 2026-12-05 00:00");
    const [carl] = JSON.parse(await succeedIn(dir, ['--json', 'person', 'list', '--query', 'carl']));
    expect(carl).toMatchObject({
      accessFrom: Date.parse('2026-12-01T07:00:00Z'),
      accessUntil: Date.parse('2026-12-04T23:00:00Z'),
    });
    expect(await succeedIn(dir, ['person', 'list', '--query', 'carl'])).toContain(
      '2026-12-01 08:00 – 2026-12-05 00:00',
    );
    const events = JSON.parse(
      await succeedIn(dir, ['--json', 'events', 'list', '--type', 'admin.person.window_set']),
    );
    expect(JSON.stringify(events)).toContain('kitchen job');
    expect(JSON.stringify(events)).toMatch(/"actor":"cli:[^"]+"/);

    const bad = await runIn(dir, [
      'person',
      'window',
      'carl',
      '--from',
      '2026-12-05',
      '--until',
      '2026-12-01',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("'until' must be later than 'from'");
    expect((await runIn(dir, ['person', 'window', 'carl', '--from', 'tomorrow'])).stderr).toContain(
      'is not a date',
    );

    expect(await succeedIn(dir, ['person', 'window', 'carl'])).toBe(
      "person 'carl': access window none (always)",
    );
  });

  it('access says per door what it would answer and why', async () => {
    const table = await succeedIn(dir, ['person', 'access', 'anna']);
    expect(table).toMatch(/front\s+opens\s+Granted: group residents\s+card …2B1C: granted/);
    await succeedIn(dir, ['person', 'window', 'anna', '--until', '2020-01-01', '--reason', 'moved out']);
    expect(await succeedIn(dir, ['person', 'access', 'anna'])).toMatch(
      /front\s+stays shut\s+Denied: outside the access window \(until 2020-01-01 00:00\) \(reason: moved out\)/,
    );
    const json = JSON.parse(await succeedIn(dir, ['--json', 'person', 'access', 'carl']));
    expect(json.doors).toEqual([
      {
        doorId: 'front',
        name: 'Front entrance',
        granted: false,
        reason: 'no_credential',
        why: 'Denied: no card, PIN or key',
        credentials: [],
      },
    ]);
  });
});
