// A small building for the resident scenarios: units, a residents group with the simulated front door,
// a garage door nobody in it may open, and a few neighbours so the people list looks like a building.
import type { UiHub } from './browser.js';

const ADMIN = { actor: 'cli:test', role: 'admin' } as const;

export async function run(ui: UiHub, name: string, input: Record<string, unknown>): Promise<unknown> {
  return ui.hub.commands.execute(name, input, ADMIN);
}

export async function seedBuilding(ui: UiHub): Promise<void> {
  for (const [id, name] of [
    ['4b', '4B'],
    ['4c', '4C'],
    ['2a', '2A'],
    ['7d', '7D'],
  ]) {
    await run(ui, 'unit.add', { id, name });
  }
  await run(ui, 'door.add', { id: 'garage', name: 'Garage', transport: 'mqtt' });
  await run(ui, 'group.add', { id: 'residents', name: 'Residents' });
  await run(ui, 'group.add_door', { id: 'residents', doorId: 'sim-front' });
  const neighbours: Array<[string, string, string, string]> = [
    ['mark-meyer', 'Mark Meyer', 'resident', '4c'],
    ['anna-berg', 'Anna Berg', 'resident', '2a'],
    ['lena-okafor', 'Lena Okafor', 'resident', '7d'],
    ['jonas-weber', 'Jonas Weber', 'guest', '4b'],
  ];
  for (const [id, name, kind, unitId] of neighbours) {
    await run(ui, 'person.add', { id, name, kind, unitId });
    await run(ui, 'group.add_member', { id: 'residents', personId: id });
  }
  await run(ui, 'person.suspend', { id: 'lena-okafor', reason: 'rent in arrears' });
}

/** A resident of 4B with a card, in the residents group (the front door). */
export async function seedResident(ui: UiHub, id: string, name: string, card: string): Promise<void> {
  await run(ui, 'person.add', { id, name, kind: 'resident', unitId: '4b' });
  await run(ui, 'group.add_member', { id: 'residents', personId: id });
  await run(ui, 'credential.add_card', { personId: id, card });
}
