// npm run docs:config — regenerates docs/configuration.md from the config schema.
import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from '../hub/config/docs.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigDocs());
console.log('docs/configuration.md written');
