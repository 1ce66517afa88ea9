// English, one file per area of the UI.
import { common } from './common.js';
import { doors } from './doors.js';
import { events } from './events.js';
import { health } from './health.js';
import { install } from './install.js';
import { login } from './login.js';
import { people } from './people.js';
import { staff } from './staff.js';

export const en = { common, login, people, doors, health, events, install, staff };
