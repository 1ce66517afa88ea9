// A commented config file generated from the schema: every setting with its default, commented out, under
// its description. deploy/install.sh puts it at /etc/gatehouse/config.yml on a first install;
// `gatehouse config example` prints it and deploy/config.example.yml is a copy kept in sync by a test.
//
// Layout, so a person can edit it with a text editor:
//   `## text`          a description: stays a comment
//   `# key: value`     a setting at its default: delete the `# ` (and the `# ` of its section lines) to use it
// The file as generated holds only `version: 1`, so the hub runs on its defaults.
import type { TSchema } from 'typebox';
import { ConfigSchema } from './schema.js';

const WIDTH = 100;

interface Node {
  type?: string;
  properties?: Record<string, TSchema>;
  description?: string;
  default?: unknown;
}

function wrap(text: string, prefix: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && prefix.length + line.length + 1 + word.length > WIDTH) {
      lines.push(prefix + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(prefix + line);
  return lines;
}

/** A default as YAML: JSON is YAML, and quoting every string keeps `on`, `0700` or `1.0` what they are. */
function yamlValue(value: unknown): string {
  return JSON.stringify(value);
}

/** Settings the file leaves to others, with the reason shown instead of the setting. */
const NOT_HERE: Record<string, string> = {
  dataDir:
    'dataDir is set by the service (GATEHOUSE_DATA in the systemd unit or the Docker image) and wins over this file.',
  version: '',
};

function render(schema: TSchema, depth: number, lines: string[]): void {
  const node = schema as Node;
  const indent = '  '.repeat(depth);
  // A description line: `## …` at the top level, `#   ## …` inside a (commented) section.
  const comment = depth === 0 ? '## ' : `# ${indent}## `;
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const c = child as Node;
    if (depth === 0 && key in NOT_HERE) {
      if (NOT_HERE[key]) lines.push('', ...wrap(NOT_HERE[key], comment));
      continue;
    }
    if (depth === 0) lines.push('');
    if (c.type === 'object' && c.properties) {
      if (c.description) lines.push(...wrap(c.description, comment));
      lines.push(`# ${indent}${key}:`);
      render(child, depth + 1, lines);
      continue;
    }
    const description = c.description ?? '';
    if (c.default === undefined) {
      // No default (an optional setting): described, never written, so uncommenting stays valid.
      lines.push(...wrap(`${key} (not set by default): ${description}`, comment));
      continue;
    }
    if (description) lines.push(...wrap(description, comment));
    lines.push(`# ${indent}${key}: ${yamlValue(c.default)}`);
  }
}

export function renderConfigExample(schema: TSchema = ConfigSchema): string {
  const lines = [
    ...wrap(
      'Gatehouse hub configuration, generated from the config schema (`gatehouse config example`). ' +
        'Every setting is shown at its default, commented out. To change one, delete the "# " in front of ' +
        'it and in front of its section line(s), then restart the hub (sudo systemctl restart gatehouse). ' +
        'Check the file first with `sudo gatehouse config`. Every setting, with its environment variable: ' +
        'docs/configuration.md.',
      '## ',
    ),
    'version: 1',
  ];
  render(schema, 0, lines);
  lines.push('');
  return lines.join('\n');
}
