// The two commands the Gatehouse Node-RED nodes need beyond door.*: person.lookup (people.read) and
// code.issue for an integration (codes.issue). A real store and the code secret in a temp dir, the
// command table as the bridge runs it.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALL_COMMANDS, type Caller, Commands, offlineCodesPort } from '../../hub/commands/index.js';
import { silentLogger } from '../../hub/logger.js';
import { OfflineCodes, resolveOfflineConfig } from '../../hub/offline/index.js';
import { CodeSecret } from '../../hub/offline/secret.js';
import { ADMIN, INTEGRATION, refusal, STAFF, type StoreBench, storeBench } from '../commands/helpers.js';

const NODE_RED: Caller = { ...INTEGRATION, grants: ['people.read', 'codes.issue'] };
const CARD = '04A1B2C3D4E5F6';
const PIN = '8675309';

let bench: StoreBench;
let commands: Commands;
const run = (name: string, input: unknown, caller: Caller = NODE_RED) =>
  commands.execute(name, input, caller) as Promise<Record<string, unknown>>;

beforeEach(async () => {
  bench = storeBench();
  const codes = new OfflineCodes({
    store: bench.store,
    secret: CodeSecret.loadOrCreate(join(bench.temp.dir, 'data')).bytes(),
    timeZone: 'Europe/Berlin',
    config: resolveOfflineConfig(undefined),
  });
  commands = new Commands(ALL_COMMANDS, {
    store: bench.store,
    codes: offlineCodesPort(codes, 'Europe/Berlin'),
    logger: silentLogger(),
  });
  await run('unit.add', { id: '4b', name: 'Flat 4B' }, ADMIN);
  await run('person.add', { id: 'ada', name: 'Ada Müller', kind: 'resident', unitId: '4b' }, ADMIN);
  await run('person.add', { id: 'bob', name: 'Bob Muller', kind: 'resident' }, ADMIN);
  await run('person.add', { id: 'eve', name: 'Eve', kind: 'guest' }, ADMIN);
  for (const id of ['front', 'gym', 'roof']) await run('door.add', { id, transport: 'mqtt' }, ADMIN);
  await run('group.add', { id: 'residents', name: 'Residents' }, ADMIN);
  await run('group.add_door', { id: 'residents', doorId: 'front' }, ADMIN);
  await run('group.add_door', { id: 'residents', doorId: 'gym' }, ADMIN);
  for (const p of ['ada', 'bob']) await run('group.add_member', { id: 'residents', personId: p }, ADMIN);
  await run('credential.add_card', { personId: 'ada', card: CARD }, ADMIN);
  await run('credential.add_pin', { personId: 'ada', pin: PIN }, ADMIN);
  await run(
    'person.set_window',
    { id: 'ada', from: 1_700_000_000_000, until: 4_000_000_000_000, reason: 'lease' },
    ADMIN,
  );
  await run('code.issue', { personId: 'ada', doors: 'front', kind: 'daily' }, STAFF);
});
afterEach(async () => {
  await bench.cleanup();
});

describe('person.lookup', () => {
  it('tells a flow name, unit, status, groups and window, and nothing that opens a door', async () => {
    const answer = await run('person.lookup', { id: 'ada' });
    expect(answer).toEqual({
      people: [
        {
          id: 'ada',
          name: 'Ada Müller',
          kind: 'resident',
          unit: { id: '4b', name: 'Flat 4B' },
          status: 'active',
          groups: [{ id: 'residents', name: 'Residents' }],
          accessWindow: { from: 1_700_000_000_000, until: 4_000_000_000_000 },
        },
      ],
    });
    // person.get shows staff the credentials; the lookup never carries them, whatever the format.
    const full = JSON.stringify(await run('person.get', { id: 'ada' }, STAFF));
    expect(full).toContain('offlineCodes');
    const text = JSON.stringify(answer);
    for (const secret of [CARD, CARD.slice(-6), PIN, 'credential', 'oc-', 'digits', 'keyEpoch', 'secret']) {
      expect(text).not.toContain(secret);
    }
  });

  it('searches by part of a name or unit, accents ignored, bounded, and shows a suspension', async () => {
    await run('person.suspend', { id: 'bob', reason: 'moved out' }, STAFF);
    const found = (await run('person.lookup', { query: 'muller' })) as {
      people: Array<Record<string, unknown>>;
    };
    expect(found.people.map((p) => [p.id, p.status])).toEqual([
      ['ada', 'active'],
      ['bob', 'suspended'],
    ]);
    expect(((await run('person.lookup', { query: 'flat 4b' })) as { people: unknown[] }).people).toHaveLength(
      1,
    );
    expect(
      ((await run('person.lookup', { query: 'mul', limit: 1 })) as { people: unknown[] }).people,
    ).toHaveLength(1);
    expect((await run('person.lookup', { query: 'nobody' })).people).toEqual([]);
  });

  it('refuses hostile and ambiguous input by naming the field', async () => {
    for (const [input, code] of [
      [{}, 'invalid'],
      [{ id: 'ada', query: 'ada' }, 'invalid'],
      [{ id: 'ada', limit: 5 }, 'invalid'],
      [{ query: '   ' }, 'invalid'],
      [{ query: 'x'.repeat(81) }, 'invalid'],
      [{ query: 'a', limit: 51 }, 'invalid'],
      [{ query: 'a', limit: 0 }, 'invalid'],
      [{ id: '../etc/passwd' }, 'invalid'],
      [{ id: 'ada', pin: true }, 'invalid'],
      [{ id: 'ghost' }, 'not_found'],
      [[], 'invalid'],
    ] as const) {
      expect((await refusal(run('person.lookup', input))).code, JSON.stringify(input)).toBe(code);
    }
    // '%' and '_' are plain characters, never SQL wildcards.
    expect((await run('person.lookup', { query: '%' })).people).toEqual([]);
  });

  it('needs the people.read grant from an integration; staff and admin may, installers and the cloud not', async () => {
    expect(await refusal(run('person.lookup', { id: 'ada' }, INTEGRATION))).toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining("'people.read' grant"),
    });
    expect(
      (await refusal(run('person.lookup', { id: 'ada' }, { ...INTEGRATION, grants: ['codes.issue'] }))).code,
    ).toBe('forbidden');
    await expect(run('person.lookup', { id: 'ada' }, STAFF)).resolves.toHaveProperty('people');
    for (const role of ['installer', 'cloud'] as const) {
      expect((await refusal(run('person.lookup', { id: 'ada' }, { actor: 'x', role }))).code).toBe(
        'forbidden',
      );
    }
  });
});

describe('code.issue by an integration', () => {
  it('issues a daily or temporary code for a person at a door they may open, audited as the account', async () => {
    const daily = (await run('code.issue', { personId: 'ada', doors: 'front', kind: 'daily' })) as {
      code: { digits: string; serial: string; scope: string; type: string };
    };
    expect(daily.code).toMatchObject({ type: 'daily', scope: 'door:front' });
    expect(daily.code.digits).toMatch(/^[0-9]{6,}$/);
    const issued = bench.store.events.list({ type: 'admin.code.issued', limit: 1 })[0]!;
    expect(issued.data).toMatchObject({ serial: daily.code.serial, actor: 'device:node-red' });
    expect(JSON.stringify(issued)).not.toContain(daily.code.digits);
    const temporary = (await run('code.issue', {
      personId: 'bob',
      doors: 'group:residents',
      kind: 'window',
      hours: 4,
    })) as { code: { type: string; scope: string } };
    expect(temporary.code).toMatchObject({ type: 'hourly', scope: 'group:residents' });
  });

  it('is refused without the codes.issue grant', async () => {
    for (const grants of [undefined, ['people.read']] as const) {
      const caller: Caller = grants ? { ...INTEGRATION, grants: [...grants] } : INTEGRATION;
      expect(
        await refusal(run('code.issue', { personId: 'ada', doors: 'front', kind: 'daily' }, caller)),
      ).toMatchObject({ code: 'forbidden', message: expect.stringContaining("'codes.issue' grant") });
    }
    expect(bench.store.events.list({ type: 'admin.code.issued', limit: 10 })).toHaveLength(1); // staff's
  });

  it('keeps a flow within what the person may open anyway', async () => {
    await run('person.suspend', { id: 'bob', reason: 'moved out' }, STAFF);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ label: 'plumber', doors: 'front', kind: 'daily' }, 'forbidden', /for a person only/],
      [{ personId: 'ada', doors: 'site', kind: 'daily' }, 'forbidden', /whole site/],
      [{ personId: 'ada', doors: 'roof', kind: 'daily' }, 'refused', /no access to door 'roof'/],
      [{ personId: 'ada', doors: 'door:roof', kind: 'daily' }, 'refused', /no access/],
      [{ personId: 'eve', doors: 'front', kind: 'once' }, 'refused', /no access/],
      [{ personId: 'bob', doors: 'front', kind: 'daily' }, 'refused', /suspended/],
      [{ personId: 'ghost', doors: 'front', kind: 'daily' }, 'not_found', /person 'ghost'/],
      [{ personId: 'ada', doors: 'nowhere', kind: 'daily' }, 'not_found', /door 'nowhere'/],
      [{ personId: 'eve', doors: 'group:residents', kind: 'daily' }, 'refused', /not in group/],
      [{ personId: 'ada', doors: 'group:staff', kind: 'daily' }, 'not_found', /group 'staff'/],
      [{ personId: 'ada', doors: 'front', kind: 'daily', hours: 3 }, 'invalid', /daily/],
      [{ personId: 'ada', doors: 'front', kind: 'forever' }, 'invalid', /kind/],
    ];
    for (const [input, code, message] of cases) {
      const refused = await refusal(run('code.issue', input));
      expect(refused.code, JSON.stringify(input)).toBe(code);
      expect(refused.message, JSON.stringify(input)).toMatch(message);
    }
    expect(bench.store.events.list({ type: 'admin.code.issued', limit: 10 })).toHaveLength(1); // staff's
    // Staff keep every choice they had: a labelled site code for a visitor.
    await expect(
      run('code.issue', { label: 'plumber', doors: 'site', kind: 'daily' }, STAFF),
    ).resolves.toHaveProperty('code');
  });

  it('an account limited to some doors stays within them', async () => {
    const gymOnly: Caller = { ...NODE_RED, doors: ['gym'] };
    await expect(
      run('code.issue', { personId: 'ada', doors: 'gym', kind: 'daily' }, gymOnly),
    ).resolves.toHaveProperty('code');
    expect(
      await refusal(run('code.issue', { personId: 'ada', doors: 'front', kind: 'daily' }, gymOnly)),
    ).toMatchObject({ code: 'forbidden', message: expect.stringContaining("door 'front'") });
    expect(
      (
        await refusal(
          run('code.issue', { personId: 'ada', doors: 'group:residents', kind: 'daily' }, gymOnly),
        )
      ).code,
    ).toBe('forbidden');
  });
});
