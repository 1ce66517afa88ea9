// Offline doorcodes through the commands, as the CLI runs them: a real store and the code secret
// in a temp dir, no running hub.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALL_COMMANDS, Commands, offlineCodesPort } from '../../hub/commands/index.js';
import { silentLogger } from '../../hub/logger.js';
import { OfflineCodes, resolveOfflineConfig } from '../../hub/offline/index.js';
import { CodeSecret } from '../../hub/offline/secret.js';
import { expectOnlyRoles, lastEvent, refusal, STAFF, type StoreBench, storeBench } from './helpers.js';

let bench: StoreBench;
let commands: Commands;
const run = (name: string, input: unknown, caller = STAFF) =>
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
  await run('person.add', { id: 'ada', name: 'Ada', kind: 'resident' });
  await run('door.add', { id: 'front', transport: 'mqtt' }, { actor: 'cli:root', role: 'admin' });
});
afterEach(async () => {
  await bench.cleanup();
});

describe('code commands', () => {
  it('issues a daily code for today (building time), lists it, revokes it, naming the actor', async () => {
    const { code } = (await run('code.issue', { personId: 'ada', doors: 'front', kind: 'daily' })) as {
      code: { digits: string; serial: string; type: string; scope: string };
    };
    expect(code).toMatchObject({ type: 'daily', scope: 'door:front' });
    expect(code.digits).toMatch(/^[0-9]{6,}$/);
    const issued = lastEvent(bench.store, 'admin.code.issued');
    expect(issued.data).toMatchObject({ serial: code.serial, actor: 'user:sam' });
    expect(JSON.stringify(bench.store.events.list({ limit: 100 }))).not.toContain(code.digits);
    const listed = await run('code.list', {});
    expect(listed.codes).toMatchObject([{ serial: code.serial, personId: 'ada', issuedBy: 'user:sam' }]);
    expect(JSON.stringify(listed)).not.toContain(code.digits);
    expect((await run('person.get', { id: 'ada' })).offlineCodes).toMatchObject([{ serial: code.serial }]);
    expect(await run('code.revoke', { serial: code.serial, reason: 'guest left' })).toEqual({
      serial: code.serial,
      alreadyRevoked: false,
    });
    expect(lastEvent(bench.store, 'admin.code.revoked').data).toEqual({
      serial: code.serial,
      reason: 'guest left',
      actor: 'user:sam',
    });
    expect((await run('code.list', {})).revoked).toMatchObject([{ serial: code.serial, actor: 'user:sam' }]);
  });

  it('issues hour-window and one-time codes for a guest at a group or the whole site', async () => {
    await run('group.add', { id: 'all' });
    const windowed = await run('code.issue', {
      label: 'plumber',
      doors: 'group:all',
      kind: 'window',
      hours: 4,
    });
    expect(windowed.code).toMatchObject({ type: 'hourly', scope: 'group:all' });
    const once = await run('code.issue', { doors: 'site', kind: 'once' });
    expect(once.code).toMatchObject({ type: 'once', scope: 'site' });
  });

  it('refuses what cannot be issued, with the reason', async () => {
    expect(await refusal(run('code.issue', { doors: 'attic', kind: 'daily' }))).toMatchObject({
      code: 'not_found',
    });
    expect(await refusal(run('code.issue', { personId: 'ghost', doors: 'front', kind: 'daily' }))).toEqual({
      code: 'not_found',
      message: "person 'ghost' not found",
    });
    expect((await refusal(run('code.issue', { doors: 'front', kind: 'daily', hours: 3 }))).message).toBe(
      "a daily code takes 'date', not 'from' or 'hours'",
    );
    expect((await refusal(run('code.issue', { doors: 'front', kind: 'weekly' }))).message).toBe(
      "'kind' must be one of: daily, window, once, first-use",
    );
    expect((await refusal(run('code.issue', { doors: 'door:front/../x', kind: 'daily' }))).message).toBe(
      "'doors' must be 'site', 'door:<id>', 'group:<id>' or a door id",
    );
    expect((await refusal(run('code.revoke', { serial: "oc-'; DROP" }))).message).toBe(
      "'serial' must be a serial like oc-xxxxxxxxxxxx (see code.list)",
    );
  });

  it('says so when this process has no code secret', async () => {
    expect(await refusal(bench.run('code.list', {}))).toEqual({
      code: 'unavailable',
      message: 'offline codes need the code secret: run this on the hub',
    });
  });

  it('is staff work', async () => {
    await expectOnlyRoles(commands, 'code.issue', { doors: 'front', kind: 'daily' }, [
      'admin',
      'staff',
      'integration', // with the codes.issue grant only (test/flows/commands.test.ts)
    ]);
    await expectOnlyRoles(commands, 'code.revoke', { serial: 'oc-aaaaaaaaaaaa' }, ['admin', 'staff']);
  });
});
