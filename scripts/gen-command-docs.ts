// npx tsx scripts/gen-command-docs.ts — regenerates the command lists in docs/http-api.md (HTTP routes)
// and docs/mqtt.md (what an integration may call) from the command table.
import { readFileSync, writeFileSync } from 'node:fs';
import { ALL_COMMANDS } from '../hub/commands/index.js';
import { renderHttpCommands, renderIntegrationCommands, replaceBetween } from '../hub/http/command-docs.js';

for (const [file, marker, content] of [
  ['../docs/http-api.md', 'http-commands', renderHttpCommands(ALL_COMMANDS)],
  ['../docs/mqtt.md', 'integration-commands', renderIntegrationCommands(ALL_COMMANDS)],
] as const) {
  const url = new URL(file, import.meta.url);
  writeFileSync(url, replaceBetween(readFileSync(url, 'utf8'), marker, content));
  console.log(`${file.slice(3)} written`);
}
