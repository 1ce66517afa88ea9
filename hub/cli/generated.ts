// Subcommands generated from the command table for every command no noun module writes by hand:
// `unit add <id> --name …`, `device rotate-secret <id>`, `user set-role <username> --role …`. The path
// parameters of the command's HTTP route are the positional arguments, in order; every other input field
// is an option (`unitId` → `--unit-id`). A secret field (password, PIN) is never an option: it is asked for
// without echo or read from stdin, like `user add` (docs/cli.md).
import { type Command, Option } from 'commander';
import { type CommandDef, routeParams } from '../commands/command.js';
import { type CliContext, collect, UsageError } from './context.js';
import { printTable } from './table.js';

interface FieldSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: FieldSchema[];
  items?: FieldSchema;
  description?: string;
}

const SECRET_FIELD = /^(password|pin|secret|passphrase)$/i;

/** Help for common fields whose schema has no description of its own. */
const FIELD_HELP: Record<string, string> = {
  id: 'id',
  name: 'display name',
  reason: 'why (kept in the audit log)',
  mode: 'door mode',
  role: 'what the user may do',
};

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replaceAll('_', '-');

/** `noun.verb_words` → ['noun', 'verb-words']. */
export function cliPathOf(def: CommandDef): [string, string] {
  const [noun, ...verb] = def.name.split('.');
  return [noun!, kebab(verb.join('.'))];
}

/** The literal choices of a field (`Type.Union([Type.Literal('a'), …])` or an enum), or null. */
function choicesOf(schema: FieldSchema): string[] | null {
  if (Array.isArray(schema.enum)) return schema.enum.map(String);
  const literals = (schema.anyOf ?? []).filter((s) => s.const !== undefined).map((s) => String(s.const));
  return literals.length > 0 && literals.length === (schema.anyOf ?? []).length ? literals : null;
}

function kindOf(schema: FieldSchema): 'boolean' | 'integer' | 'number' | 'array' | 'string' {
  const types = [schema.type, ...(schema.anyOf ?? []).map((s) => s.type)].flat().filter(Boolean);
  if (types.includes('array')) return 'array';
  if (types.includes('boolean') && !types.includes('string')) return 'boolean';
  if (types.includes('integer') && !types.includes('string')) return 'integer';
  if (types.includes('number') && !types.includes('string')) return 'number';
  return 'string';
}

function numberArg(flag: string, integer: boolean) {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
      throw new UsageError(`${flag} must be a ${integer ? 'whole ' : ''}number`);
    return n;
  };
}

/** What a command gave back, for a person at a terminal: a table for a list, `key: value` lines otherwise. */
export function printResult(cli: CliContext, name: string, result: unknown): void {
  const { io } = cli;
  if (result === null || result === undefined || typeof result !== 'object') {
    io.out(`${name}: done`);
    return;
  }
  const entries = Object.entries(result as Record<string, unknown>);
  if (entries.length === 1 && entries[0]![0] === 'ok') {
    io.out(`${name}: done`);
    return;
  }
  if (entries.length === 1 && Array.isArray(entries[0]![1])) {
    const rows = (entries[0]![1] as unknown[]).map((row) =>
      row !== null && typeof row === 'object'
        ? Object.fromEntries(
            Object.entries(row).map(([k, v]) => [
              k,
              v !== null && typeof v === 'object' ? JSON.stringify(v) : v,
            ]),
          )
        : { value: row },
    );
    printTable(rows, io);
    return;
  }
  for (const [key, value] of entries) {
    io.out(`${key}: ${value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  }
}

export type RunCommand = (name: string, input: Record<string, unknown>) => Promise<unknown>;

/** Adds a subcommand for every command in `defs` whose name is not in `handled`. */
export function registerGeneratedCommands(
  program: Command,
  cli: CliContext,
  defs: readonly CommandDef[],
  handled: ReadonlySet<string>,
  run: RunCommand,
  nounDescriptions: Readonly<Record<string, string>> = {},
): void {
  for (const def of defs) {
    if (handled.has(def.name)) continue;
    const [nounName, verb] = cliPathOf(def);
    const noun =
      program.commands.find((c) => c.name() === nounName) ??
      program.command(nounName).description(nounDescriptions[nounName] ?? `${nounName} commands`);
    const input = def.input as unknown as { properties?: Record<string, FieldSchema>; required?: string[] };
    const properties = input.properties ?? {};
    const required = new Set(input.required ?? []);
    const positional = routeParams(def.http.path);
    const secrets = Object.keys(properties).filter((f) => SECRET_FIELD.test(f));
    const sub = noun
      .command([verb, ...positional.map((p) => `<${kebab(p)}>`)].join(' '))
      .description(`${def.summary}${def.runs === 'hub' ? ' (running hub)' : ''}`);
    const options: Array<{ field: string; attribute: string }> = [];
    for (const [field, schema] of Object.entries(properties)) {
      if (positional.includes(field) || secrets.includes(field)) continue;
      const flag = `--${kebab(field)}`;
      const kind = kindOf(schema);
      const choices = choicesOf(schema);
      const help = (field in FIELD_HELP ? FIELD_HELP[field] : schema.description) ?? field;
      const option =
        kind === 'boolean'
          ? new Option(flag, help)
          : new Option(
              `${flag} <${kind === 'array' ? 'value' : kebab(field)}>`,
              kind === 'array' ? `${help} (repeat for several)` : help,
            );
      if (choices) option.choices(choices);
      if (kind === 'integer' || kind === 'number') option.argParser(numberArg(flag, kind === 'integer'));
      if (kind === 'array') option.argParser(collect);
      if (required.has(field) && kind !== 'boolean') option.makeOptionMandatory();
      sub.addOption(option);
      options.push({ field, attribute: option.attributeName() });
    }
    sub.action(async (...args: unknown[]) => {
      const values: Record<string, unknown> = {};
      positional.forEach((field, i) => {
        const kind = kindOf(properties[field] ?? {});
        // `alarm ack 12`: a whole-number argument is a number, as the option of the same kind would be.
        values[field] =
          kind === 'integer' || kind === 'number'
            ? numberArg(`<${kebab(field)}>`, kind === 'integer')(String(args[i]))
            : args[i];
      });
      const opts = args[positional.length] as Record<string, unknown>;
      for (const { field, attribute } of options) {
        if (opts[attribute] !== undefined) values[field] = opts[attribute];
      }
      for (const field of secrets) {
        const secret = (await cli.io.readSecret(`${field} for ${def.name}: `)).trim();
        if (secret === '' && required.has(field)) throw new UsageError(`no ${field} given (empty input)`);
        if (secret !== '') values[field] = secret;
      }
      const result = await run(def.name, values);
      const { json } = cli.settings();
      cli.print(json, result, () => printResult(cli, def.name, result));
    });
  }
}
