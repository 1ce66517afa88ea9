// Door sync status for the UI and API: each door's published version, what its devices applied, how stale.
import type { FastifyInstance } from 'fastify';
import type { StaffRole } from '../domain.js';
// The route config `roles` is declared by hub/http/deps.ts (module augmentation of fastify).
import type {} from '../http/deps.js';
import type { DoorSync } from './service.js';

const ANY: StaffRole[] = ['admin', 'staff', 'installer'];

export async function registerDoorSyncRoutes(
  api: FastifyInstance,
  deps: { doorSync: DoorSync },
): Promise<void> {
  api.get('/doorsync', { config: { roles: ANY } }, async () => ({ doors: deps.doorSync.status() }));
}
