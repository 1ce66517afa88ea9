// Integration accounts get least privilege: door state and modes by role, anything more by a grant on the
// account (hub/store/devices.ts INTEGRATION_GRANTS), checked by the command layer for every caller.
import { afterEach, describe, expect, it } from 'vitest';
import { bridgeCaller } from '../../hub/broker/bridge-requests.js';
import { defineCommand } from '../../hub/commands/command.js';
import { Commands } from '../../hub/commands/index.js';
import { Input } from '../../hub/commands/schemas.js';
import { silentLogger } from '../../hub/logger.js';
import { INTEGRATION, refusal, STAFF, type StoreBench, storeBench } from './helpers.js';

let bench: StoreBench;
afterEach(() => bench?.cleanup());

const granted = defineCommand({
  name: 'test.granted',
  summary: 'needs codes.issue from an integration',
  input: Input({}),
  roles: ['staff', 'integration'],
  grant: 'codes.issue',
  runs: 'store',
  readOnly: true,
  http: { method: 'GET', path: '/test' },
  run: () => ({ ok: true }),
});

describe('integration grants', () => {
  it('are stored with the account, shown by device.list and given to the bridge caller', async () => {
    bench = storeBench();
    const { device } = (await bench.run('device.add', {
      id: 'node-red',
      role: 'integration',
      doors: [],
      grants: ['people.read', 'codes.issue', 'people.read'],
    })) as { device: { grants: string[] } };
    expect(device.grants).toEqual(['people.read', 'codes.issue']);
    await bench.run('device.add', { id: 'home-assistant', role: 'integration', doors: [] });
    const verified = bench.store.devices.list().find((d) => d.id === 'home-assistant');
    expect(verified?.grants).toEqual([]);
    const caller = bridgeCaller({
      id: 'node-red',
      role: 'integration',
      doors: [],
      grants: device.grants as never,
    });
    expect(caller?.grants).toEqual(['people.read', 'codes.issue']);
  });

  it('refuses unknown grants and grants on a door device', async () => {
    bench = storeBench();
    await bench.run('door.add', { id: 'front', name: 'Front', transport: 'mqtt' });
    const unknown = await refusal(
      bench.run('device.add', { id: 'x', role: 'integration', doors: [], grants: ['everything'] }),
    );
    expect(unknown.code).toBe('invalid');
    const onDoor = await refusal(
      bench.run('device.add', { id: 'y', role: 'door', doors: ['front'], grants: ['codes.issue'] }),
    );
    expect(onDoor).toMatchObject({ code: 'invalid', message: expect.stringContaining('integration') });
  });

  it('a command with a grant refuses integrations without it, and only them', async () => {
    bench = storeBench();
    const commands = new Commands([granted], { store: bench.store, logger: silentLogger() });
    expect(await refusal(commands.execute('test.granted', {}, INTEGRATION))).toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining("'codes.issue' grant"),
    });
    await expect(
      commands.execute('test.granted', {}, { ...INTEGRATION, grants: ['people.read'] }),
    ).rejects.toThrow(/codes.issue/);
    await expect(
      commands.execute('test.granted', {}, { ...INTEGRATION, grants: ['codes.issue'] }),
    ).resolves.toEqual({ ok: true });
    await expect(commands.execute('test.granted', {}, STAFF)).resolves.toEqual({ ok: true });
  });
});
