// MQTT device accounts (door controllers, readers, integrations): installer work. A secret is shown
// once, when it is made; the store keeps only its keyed hash.
import Type from 'typebox';
import { DEVICE_ROLES, INTEGRATION_GRANTS } from '../store/devices.js';
import { CommandError, defineCommand, type Role } from './command.js';
import { Id, Input, NoInput } from './schemas.js';

const WIRING: readonly Role[] = ['admin', 'installer'];

export const deviceCommands = [
  defineCommand({
    name: 'device.add',
    summary:
      'create a device account for the doors it serves (or an integration account); returns its secret once',
    input: Input({
      id: Id,
      doors: Type.Array(Id, { maxItems: 64 }),
      role: Type.Enum([...DEVICE_ROLES]),
      grants: Type.Optional(
        Type.Array(Type.Enum([...INTEGRATION_GRANTS]), {
          maxItems: 8,
          description:
            'integration accounts only: people.read (look people up), codes.issue (issue doorcodes)',
        }),
      ),
    }),
    roles: WIRING,
    runs: 'store',
    http: { method: 'POST', path: '/devices', status: 201 },
    run: (ctx, { id, doors, role, grants }) => {
      if (role === 'door' && doors.length === 0) {
        throw new CommandError('invalid', "a door device needs at least one door in 'doors'");
      }
      return ctx.store.devices.add(id, { role, doors, ...(grants ? { grants } : {}) });
    },
  }),
  defineCommand({
    name: 'device.remove',
    summary: 'remove a device account (it is disconnected at once)',
    input: Input({ id: Id }),
    roles: WIRING,
    runs: 'store',
    http: { method: 'DELETE', path: '/devices/:id' },
    run: (ctx, { id }) => {
      ctx.store.devices.remove(id);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'device.rotate_secret',
    summary: 'give a device a new secret (the old one stops working at once); returns it once',
    input: Input({ id: Id }),
    roles: WIRING,
    runs: 'store',
    http: { method: 'POST', path: '/devices/:id/rotate-secret' },
    run: (ctx, { id }) => ({ device: id, secret: ctx.store.devices.rotateSecret(id) }),
  }),
  defineCommand({
    name: 'device.list',
    summary: 'list device accounts and their doors',
    input: NoInput,
    roles: WIRING,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/devices' },
    run: (ctx) => ({ devices: ctx.store.devices.list() }),
  }),
];
