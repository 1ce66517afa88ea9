// The command lists in docs/http-api.md and docs/mqtt.md are generated from the command table
// (`npx tsx scripts/gen-command-docs.ts`); a test fails when they drift.
import Type from 'typebox';
import type { CommandDef } from '../commands/command.js';
import { httpRoles } from './commands.js';

/** A summary inside a markdown table cell. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** `{id, ms?, reason?}`: the input fields, optional ones marked. */
export function inputFields(def: CommandDef): string {
  const input = def.input;
  if (!Type.IsObject(input)) return '';
  const required = new Set(input.required ?? []);
  const names = Object.keys(input.properties).map((name) => (required.has(name) ? name : `${name}?`));
  return names.length === 0 ? '{}' : `{${names.join(', ')}}`;
}

/** One row per command a staff role may call over HTTP. */
export function renderHttpCommands(defs: readonly CommandDef[]): string {
  const rows = defs
    .filter((def) => httpRoles(def).length > 0)
    .map((def) => {
      const route = `${def.http.method} /api/v1${def.http.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')}`;
      const fields = inputFields(def);
      return `| \`${route}\` | \`${def.name}\` ${fields ? `\`${fields}\`` : ''} | ${httpRoles(def).join(', ')} | ${cell(def.summary)} |`;
    });
  return ['| method and path | command and input | role | what |', '|---|---|---|---|', ...rows].join('\n');
}

/** The commands an MQTT integration account may call (bridge requests). */
export function renderIntegrationCommands(defs: readonly CommandDef[]): string {
  const rows = defs
    .filter((def) => def.roles.includes('integration'))
    .map(
      (def) =>
        `| \`${def.name}\` | \`${inputFields(def)}\` | ${def.grant ? `\`${def.grant}\`` : '—'} | ${cell(def.summary)} |`,
    );
  return [
    '| `{name}` | payload fields (besides `transaction`) | grant needed | what |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** Replaces what stands between `<!-- {marker}:start -->` and `<!-- {marker}:end -->`. */
export function replaceBetween(doc: string, marker: string, content: string): string {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from < 0 || to < from) throw new Error(`the markers ${start} … ${end} are missing`);
  return `${doc.slice(0, from + start.length)}\n${content}\n${doc.slice(to)}`;
}
