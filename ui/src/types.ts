// Shapes of the hub's API answers that the UI reads (docs/http-api.md; GET /api/docs has them all).

export type Role = 'admin' | 'staff' | 'installer';

export interface Me {
  user: { id: string; username: string; role: Role };
  /** Command names this role may run: the UI shows only what the hub would allow. */
  may: string[];
}

export interface HubEvent {
  seq: number;
  ts: number;
  type: string;
  doorId: string | null;
  personId: string | null;
  credentialId: string | null;
  data: Record<string, unknown>;
}

export interface ReaderStatus {
  readerId: string;
  online: boolean;
  [key: string]: unknown;
}

export interface DoorStatus {
  doorId: string;
  contact: 'open' | 'closed' | 'unknown';
  lock: 'locked' | 'unlocked' | 'unknown';
  mode: 'normal' | 'lockdown' | 'unlocked';
  tamper: boolean;
  online: boolean;
  readers?: ReaderStatus[];
}

export interface Door {
  id: string;
  name: string;
  transport: string;
  mode: 'normal' | 'lockdown' | 'unlocked';
  failMode: string;
  unlockMs: number;
  heldOpenMs: number;
  status?: DoorStatus | null;
}

export interface Person {
  id: string;
  name: string;
  kind: 'resident' | 'staff' | 'guest';
  unitId: string | null;
  suspended: boolean;
  keyEpoch: number;
  accessFrom?: number | null;
  accessUntil?: number | null;
  createdAt: number;
}
