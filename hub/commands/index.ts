// The one table of commands (docs/architecture.md, "Where each kind of change goes"). HTTP routes,
// CLI subcommands, MQTT bridge requests and the cloud mirror are generated from it.
//
// Conventions every command keeps:
// - the result is a JSON object keyed by what it holds: { person }, { people }, { credential }, { ok: true }…
// - path parameters of `http.path` are fields of the input; GET inputs come from the query string;
// - `roles` is least privilege: installers wire (doors, devices), staff run the building (people,
//   credentials, codes, modes, unlock), admin does everything and alone manages staff users and
//   accepts the clock; `integration` (MQTT integration accounts, Node-RED) may read door state and
//   request door.unlock / door.set_mode (never lift a lockdown); `cloud` is what the mirror applies.
import { alarmCommands } from './alarms.js';
import { clockCommands } from './clock.js';
import { codeCommands } from './codes.js';
import type { CommandDef } from './command.js';
import { credentialCommands } from './credentials.js';
import { deviceCommands } from './devices.js';
import { doorCommands } from './doors.js';
import { groupCommands } from './groups.js';
import { holidayCommands } from './holidays.js';
import { keypadCommands } from './keypads.js';
import { lookupCommands } from './lookup.js';
import { mobileCommands } from './mobile.js';
import { personCommands } from './people.js';
import { scheduleCommands } from './schedules.js';
import { unitCommands } from './units.js';
import { userCommands } from './users.js';

export * from './command.js';
export { mobileKeyView } from './credentials.js';
export { MAX_UNLOCK_MS, MIN_UNLOCK_MS, REFUSALS } from './doors.js';
export { freePersonId, slugOf } from './people.js';

export const ALL_COMMANDS: readonly CommandDef[] = [
  ...personCommands,
  ...lookupCommands,
  ...unitCommands,
  ...credentialCommands,
  ...groupCommands,
  ...scheduleCommands,
  ...holidayCommands,
  ...doorCommands,
  ...deviceCommands,
  ...userCommands,
  ...codeCommands,
  ...keypadCommands,
  ...mobileCommands,
  ...clockCommands,
  ...alarmCommands,
];
