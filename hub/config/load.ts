// Loads the config file (YAML or JSON), applies GATEHOUSE_* env overrides and the schema's defaults,
// and refuses to go on with a list of every problem, by path, with a hint.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { isValidTimeZone } from '../access/localtime.js';
import { parseCloudConfig } from '../cloud/config.js';
import { type Config, ConfigSchema } from './schema.js';

export class ConfigError extends Error {
  readonly source: string;
  readonly problems: string[];

  constructor(source: string, problems: string[]) {
    super(
      `Configuration ${source} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}\n` +
        'See docs/configuration.md for every setting and its allowed values.',
    );
    this.name = 'ConfigError';
    this.source = source;
    this.problems = problems;
  }
}

const checker = Compile(ConfigSchema);

/** `mqtt.tls.port` → `GATEHOUSE_MQTT_TLS_PORT`; `timeZone` → `GATEHOUSE_TIME_ZONE`. */
export function envNameFor(pathParts: string[]): string {
  return `GATEHOUSE_${pathParts.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

interface Leaf {
  path: string[];
  schema: TSchema & { type?: string; description?: string; default?: unknown };
}

/** Every setting that holds a value (not an object), in schema order: used for env overrides and docs. */
export function configLeaves(schema: TSchema = ConfigSchema, prefix: string[] = []): Leaf[] {
  const s = schema as TSchema & { type?: string; properties?: Record<string, TSchema> };
  if (s.type === 'object' && s.properties) {
    return Object.entries(s.properties).flatMap(([key, child]) => configLeaves(child, [...prefix, key]));
  }
  return [{ path: prefix, schema: s as Leaf['schema'] }];
}

function leafType(schema: Leaf['schema']): string | undefined {
  if (schema.type) return schema.type;
  const anyOf = (schema as { anyOf?: Array<{ type?: string; const?: unknown }> }).anyOf;
  if (anyOf?.every((s) => typeof s.const === 'string')) return 'string';
  const constant = (schema as { const?: unknown }).const;
  return constant === undefined ? undefined : typeof constant;
}

function coerceEnv(raw: string, schema: Leaf['schema'], name: string, problems: string[]): unknown {
  const type = leafType(schema);
  if (type === 'integer' || type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) problems.push(`${name}="${raw}" is not a number`);
    return n;
  }
  if (type === 'boolean') {
    if (['true', '1', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['false', '0', 'no', 'off'].includes(raw.toLowerCase())) return false;
    problems.push(`${name}="${raw}" must be true or false`);
    return raw;
  }
  if (type === 'array') {
    try {
      return raw.trim().startsWith('[')
        ? JSON.parse(raw)
        : raw
            .split(',')
            .map((v) => v.trim())
            .filter(Boolean);
    } catch {
      problems.push(`${name} must be a JSON array or a comma-separated list`);
      return raw;
    }
  }
  return raw;
}

function setPath(target: Record<string, unknown>, parts: string[], value: unknown): void {
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function hintFor(error: { keyword: string; instancePath: string; params: Record<string, unknown> }): string {
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params.additionalProperties as string[] | undefined) ?? [];
    return `unknown setting${extra.length > 1 ? 's' : ''} ${extra.map((e) => `"${e}"`).join(', ')} (check the spelling)`;
  }
  return '';
}

/** Validate a plain object (file contents plus overrides) against the schema; fills defaults. */
export function resolveConfig(input: unknown, source = 'input'): Config {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(source, ['the top level must be a mapping of settings (key: value)']);
  }
  const value = Value.Default(ConfigSchema, structuredClone(input)) as Record<string, unknown>;
  const problems: string[] = [];
  for (const error of checker.Errors(value)) {
    if (error.keyword === 'boolean') continue; // reported once, as additionalProperties on the parent
    const where = error.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : '(top level)';
    const hint = hintFor(error);
    problems.push(hint ? `${where}: ${hint}` : `${where}: ${error.message}`);
  }
  if (typeof value.timeZone === 'string' && !isValidTimeZone(value.timeZone)) {
    problems.push(
      `timeZone: "${value.timeZone}" is not an IANA time zone (e.g. Europe/Berlin, America/New_York)`,
    );
  }
  const keypad = value.keypad as { lockSeconds?: number; maxLockSeconds?: number } | undefined;
  if (keypad && typeof keypad.lockSeconds === 'number' && typeof keypad.maxLockSeconds === 'number') {
    if (keypad.maxLockSeconds < keypad.lockSeconds) {
      problems.push('keypad.maxLockSeconds: must be at least keypad.lockSeconds');
    }
  }
  if (problems.length === 0) {
    try {
      parseCloudConfig(value.cloud); // cross-field rules: hubId and a token when enabled, cert with key
    } catch (err) {
      problems.push((err as Error).message.replace(/^invalid cloud config: /, ''));
    }
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  return value as Config;
}

export interface LoadOptions {
  /** Explicit config file; otherwise GATEHOUSE_CONFIG, then <dataDir>/config.yaml if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, or null when running on defaults and env only. */
  file: string | null;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const dataDirHint = env.GATEHOUSE_DATA ?? env.GATEHOUSE_DATA_DIR ?? './data';
  const candidate = options.file ?? env.GATEHOUSE_CONFIG ?? path.join(dataDirHint, 'config.yaml');
  const explicit = options.file !== undefined || env.GATEHOUSE_CONFIG !== undefined;

  let raw: unknown = {};
  let file: string | null = null;
  if (existsSync(candidate)) {
    file = candidate;
    let text: string;
    try {
      text = readFileSync(candidate, 'utf8');
    } catch (err) {
      throw new ConfigError(candidate, [`cannot read the file: ${(err as Error).message}`]);
    }
    try {
      raw = text.trim() === '' ? {} : parseYaml(text);
    } catch (err) {
      throw new ConfigError(candidate, [`not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`]);
    }
    if (raw === null) raw = {};
  } else if (explicit) {
    throw new ConfigError(candidate, ['the file does not exist']);
  }

  const problems: string[] = [];
  const merged = structuredClone(raw) as Record<string, unknown>;
  if (typeof merged === 'object' && merged !== null && !Array.isArray(merged)) {
    for (const leaf of configLeaves()) {
      const name = envNameFor(leaf.path);
      const value = env[name] ?? (leaf.path.join('.') === 'dataDir' ? env.GATEHOUSE_DATA : undefined);
      if (value !== undefined) setPath(merged, leaf.path, coerceEnv(value, leaf.schema, name, problems));
    }
  }
  if (problems.length > 0) throw new ConfigError('environment', problems);
  return { config: resolveConfig(merged, file ?? 'defaults'), file };
}
