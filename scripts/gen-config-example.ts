// npm run config:example — regenerates deploy/config.example.yml (what install.sh puts at
// /etc/gatehouse/config.yml on a first install) from the config schema. test/appliance/config-example.test.ts
// fails when it is out of date.
import { writeFileSync } from 'node:fs';
import { renderConfigExample } from '../hub/config/example.js';

writeFileSync(new URL('../deploy/config.example.yml', import.meta.url), renderConfigExample());
console.log('deploy/config.example.yml written');
