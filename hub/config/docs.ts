// Renders docs/configuration.md from the schema, so the reference can never drift from the code.
import type { TSchema } from 'typebox';
import { configLeaves, envNameFor } from './load.js';
import { ConfigSchema } from './schema.js';

function describeType(schema: TSchema): string {
  const s = schema as {
    type?: string;
    anyOf?: Array<{ const?: unknown }>;
    const?: unknown;
    minimum?: number;
    maximum?: number;
    pattern?: string;
  };
  if (s.anyOf?.every((o) => o.const !== undefined))
    return s.anyOf.map((o) => `\`${String(o.const)}\``).join(' \\| ');
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  let text = s.type ?? 'value';
  if (s.minimum !== undefined || s.maximum !== undefined)
    text += ` (${s.minimum ?? '…'}–${s.maximum ?? '…'})`;
  return text;
}

export function renderConfigDocs(schema: TSchema = ConfigSchema): string {
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from hub/config/schema.ts by `npm run docs:config`. Do not edit by hand. -->',
    '',
    'The hub runs on defaults with no file at all. To change a setting, put it in a YAML (or JSON) file',
    'and point the hub at it with `--config FILE` or `GATEHOUSE_CONFIG=FILE`; without either, the hub reads',
    '`<dataDir>/config.yaml` when it exists. Every setting can also be overridden by an environment variable',
    '(shown below). An invalid file stops the hub with every problem listed by path.',
    '',
    'Doors wired to the hub itself (`hardware.doors`: relay, contact, REX, tamper, fire, Wiegand and PN532',
    'readers) are described with examples in [wiring.md](wiring.md).',
    '',
    'Example `data/config.yaml`:',
    '',
    '```yaml',
    'timeZone: Europe/Berlin',
    'mqtt:',
    '  tls:',
    '    port: 8883',
    'http:',
    '  https:',
    '    port: 8443',
    '```',
    '',
    '| setting | type | default | environment | description |',
    '|---|---|---|---|---|',
  ];
  for (const leaf of configLeaves(schema)) {
    const key = leaf.path.join('.');
    const env = key === 'dataDir' ? 'GATEHOUSE_DATA' : envNameFor(leaf.path);
    const def = leaf.schema.default === undefined ? '' : `\`${JSON.stringify(leaf.schema.default)}\``;
    lines.push(
      `| \`${key}\` | ${describeType(leaf.schema)} | ${def} | \`${env}\` | ${leaf.schema.description ?? ''} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
