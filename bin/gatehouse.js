#!/usr/bin/env node
// Entry point for `npx gatehouse`: runs the compiled CLI from dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../dist/hub/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(
    'Gatehouse is not built yet. Run `npm run build` (or `npm start`) in the gatehouse folder first.\n',
  );
  process.exit(1);
}
await import(pathToFileURL(main).href);
