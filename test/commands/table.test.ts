// The one table: canonical names, a route per command that other surfaces can generate from, and
// path parameters that are input fields.
import { describe, expect, it } from 'vitest';
import { ALL_COMMANDS, ALL_ROLES } from '../../hub/commands/index.js';

const CANONICAL = [
  'person.add',
  'person.remove',
  'person.list',
  'person.get',
  'person.suspend',
  'person.unsuspend',
  'person.logout_everywhere',
  'person.lookup',
  'person.set_window',
  'person.access',
  'unit.add',
  'unit.remove',
  'unit.list',
  'credential.add_card',
  'credential.add_pin',
  'credential.revoke',
  'credential.list',
  'group.add',
  'group.remove',
  'group.set_schedule',
  'group.add_member',
  'group.remove_member',
  'group.add_door',
  'group.remove_door',
  'group.list',
  'schedule.set',
  'schedule.remove',
  'schedule.list',
  'holiday.add',
  'holiday.remove',
  'holiday.list',
  'door.add',
  'door.remove',
  'door.list',
  'door.set_mode',
  'door.set_mode_all',
  'door.unlock',
  'door.capture_card',
  'device.add',
  'device.remove',
  'device.rotate_secret',
  'device.list',
  'user.add',
  'user.remove',
  'user.set_role',
  'user.reset_password',
  'user.list',
  'code.issue',
  'code.revoke',
  'code.list',
  'keypad.enable',
  'keypad.list',
  'mobile.revoke',
  'mobile.list',
  'clock.accept',
  'alarm.list',
  'alarm.ack',
];

describe('the command table', () => {
  it('holds exactly the canonical commands', () => {
    expect(ALL_COMMANDS.map((c) => c.name).sort()).toEqual([...CANONICAL].sort());
  });

  it('gives every command one REST route; path parameters are input fields', () => {
    const routes = new Set<string>();
    for (const c of ALL_COMMANDS) {
      const route = `${c.http.method} ${c.http.path.replace(/:[A-Za-z]+/g, ':')}`;
      expect(routes.has(route), `${c.name}: ${route} is taken`).toBe(false);
      routes.add(route);
      const properties = (c.input as { properties?: Record<string, unknown> }).properties ?? {};
      for (const param of c.http.path.match(/:[A-Za-z]+/g) ?? []) {
        expect(Object.keys(properties), `${c.name} ${c.http.path}`).toContain(param.slice(1));
      }
      expect((c.input as { additionalProperties?: unknown }).additionalProperties, c.name).toBe(false);
      expect(c.roles.length, c.name).toBeGreaterThan(0);
      for (const role of c.roles) expect(ALL_ROLES).toContain(role);
      if (c.http.method === 'GET') expect(c.readOnly, c.name).toBe(true);
    }
  });

  it('keeps the routes that exist today', () => {
    const route = (name: string) => {
      const c = ALL_COMMANDS.find((d) => d.name === name)!;
      return `${c.http.method} ${c.http.path}`;
    };
    expect(route('door.unlock')).toBe('POST /doors/:id/unlock');
    expect(route('door.set_mode')).toBe('PUT /doors/:id/mode');
    expect(route('person.add')).toBe('POST /people');
    expect(route('person.suspend')).toBe('POST /people/:id/suspend');
    expect(route('person.logout_everywhere')).toBe('POST /people/:id/logout-everywhere');
    expect(route('person.list')).toBe('GET /people');
    expect(route('person.set_window')).toBe('POST /people/:id/window');
    expect(route('person.access')).toBe('GET /people/:id/access');
    expect(route('credential.add_card')).toBe('POST /credentials');
    expect(route('credential.revoke')).toBe('POST /credentials/:id/revoke');
    expect(route('user.list')).toBe('GET /users');
    expect(route('alarm.list')).toBe('GET /alarms');
    expect(route('alarm.ack')).toBe('POST /alarms/:seq/ack');
    expect(route('door.capture_card')).toBe('POST /doors/:doorId/capture-card');
  });

  it('lets integrations and the cloud do only what docs/mqtt.md and docs/cloud-protocol.md list', () => {
    const allowed = (role: string) =>
      ALL_COMMANDS.filter((c) => (c.roles as readonly string[]).includes(role))
        .map((c) => c.name)
        .sort();
    expect(allowed('integration')).toEqual([
      'code.issue', // grant codes.issue
      'door.list',
      'door.set_mode',
      'door.unlock',
      'person.lookup', // grant people.read
    ]);
    expect(allowed('cloud')).toEqual(['door.set_mode', 'door.unlock']);
    expect(allowed('installer')).toEqual([
      'alarm.list',
      'device.add',
      'device.list',
      'device.remove',
      'device.rotate_secret',
      'door.add',
      'door.list',
      'door.remove',
      'keypad.list',
    ]);
    expect(ALL_COMMANDS.filter((c) => !c.roles.includes('admin'))).toEqual([]);
  });
});
