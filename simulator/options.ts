// What a simulation run is asked to do: command-line flags and/or a scenario file (JSON) with the same
// fields, validated by one schema. Anything unknown, out of range or not a plain number is refused with
// a message naming the field: a scenario file is input like any other.
import { readFileSync, statSync } from 'node:fs';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';

export const ScenarioSchema = Type.Object(
  {
    doors: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'LAN doors (MQTT over TLS)' }),
    residents: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 2000,
      description: 'people with a card',
    }),
    hours: Type.Number({ minimum: 0.05, maximum: 168, default: 24, description: 'simulated hours' }),
    speed: Type.Number({
      minimum: 1,
      maximum: 100_000,
      default: 600,
      description: 'simulated seconds per real second',
    }),
    startHour: Type.Number({
      minimum: 0,
      maximum: 23.99,
      default: 0,
      description: 'simulated time of day the run starts at (7 starts in the morning peak)',
    }),
    passagesPerDay: Type.Number({
      minimum: 0,
      maximum: 50,
      default: 4,
      description: 'average presentations per resident per simulated day',
    }),
    mobileShare: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.05,
      description: 'share of residents who also hold a mobile key',
    }),
    seed: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 1, description: 'random seed' }),
    out: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'report directory (default ./simulation-<time>/)',
      }),
    ),
  },
  { additionalProperties: false },
);

export type Scenario = Static<typeof ScenarioSchema> & { out?: string };

const checker = Compile(ScenarioSchema);

/** A run longer than this in real time is a typo, not a plan. */
const MAX_REAL_HOURS = 48;
/** Scenario files are a few lines; anything bigger is not one. */
const MAX_SCENARIO_BYTES = 64 * 1024;

export class ScenarioError extends Error {
  readonly source: string;
  readonly problems: string[];

  constructor(source: string, problems: string[]) {
    super(`${source} is not a valid scenario:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.source = source;
    this.problems = problems;
    this.name = 'ScenarioError';
  }
}

/** Validates and fills defaults; throws ScenarioError listing every problem. */
export function parseScenario(input: unknown, source = 'scenario'): Scenario {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ScenarioError(source, ['the top level must be a JSON object of fields']);
  }
  // JSON.parse keeps a "__proto__" key as an own property: refuse it rather than let it near a merge.
  const own = Object.keys(input);
  if (own.some((k) => k === '__proto__' || k === 'constructor' || k === 'prototype')) {
    throw new ScenarioError(source, ['field names __proto__, constructor and prototype are not allowed']);
  }
  const value = Value.Default(ScenarioSchema, structuredClone(input));
  const problems: string[] = [];
  for (const error of checker.Errors(value)) {
    if (error.keyword === 'boolean') continue;
    const where = error.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : '(top level)';
    if (error.keyword === 'additionalProperties') {
      const extra = (error.params as { additionalProperties?: string[] }).additionalProperties ?? [];
      problems.push(`unknown field${extra.length > 1 ? 's' : ''} ${extra.map((e) => `"${e}"`).join(', ')}`);
    } else problems.push(`${where}: ${error.message}`);
  }
  if (problems.length > 0) throw new ScenarioError(source, problems);
  const scenario = value as Scenario;
  const realHours = scenario.hours / scenario.speed;
  if (realHours > MAX_REAL_HOURS) {
    throw new ScenarioError(source, [
      `hours / speed = ${realHours.toFixed(1)} real hours; at most ${MAX_REAL_HOURS} (raise --speed)`,
    ]);
  }
  return scenario;
}

export function loadScenarioFile(file: string): unknown {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new ScenarioError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  if (size > MAX_SCENARIO_BYTES) throw new ScenarioError(file, [`the file is ${size} bytes; at most 65536`]);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new ScenarioError(file, [`not valid JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
}

const FLAGS: Record<string, keyof Scenario> = {
  '--doors': 'doors',
  '--residents': 'residents',
  '--hours': 'hours',
  '--speed': 'speed',
  '--start-hour': 'startHour',
  '--passages-per-day': 'passagesPerDay',
  '--mobile-share': 'mobileShare',
  '--seed': 'seed',
};

export const USAGE = `usage: npm run simulate -- [--scenario file.json] [--doors N] [--residents N] [--hours H]
       [--speed S] [--start-hour H] [--passages-per-day N] [--mobile-share F] [--seed N] [--out dir]
Flags override the scenario file's fields. See docs/proof.md, "The building simulator".`;

/** argv (after `node main.js`) → a validated scenario. Flags win over the file. */
export function parseArgs(argv: string[]): Scenario {
  const fromFlags: Record<string, unknown> = {};
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (flag === '--help' || flag === '-h') throw new ScenarioError('the command line', [USAGE]);
    if (value === undefined || value.startsWith('--')) {
      throw new ScenarioError('the command line', [`${flag} needs a value`]);
    }
    i++;
    if (flag === '--scenario') file = value;
    else if (flag === '--out') fromFlags.out = value;
    else if (FLAGS[flag]) {
      // Only plain decimal numbers: no hex, no exponent tricks, no "Infinity".
      if (!/^-?\d+(\.\d+)?$/.test(value)) {
        throw new ScenarioError('the command line', [
          `${flag} must be a number, got "${value.slice(0, 40)}"`,
        ]);
      }
      fromFlags[FLAGS[flag]] = Number(value);
    } else throw new ScenarioError('the command line', [`unknown option ${flag.slice(0, 40)}\n${USAGE}`]);
  }
  const base = file === undefined ? {} : loadScenarioFile(file);
  if (typeof base !== 'object' || base === null || Array.isArray(base)) {
    return parseScenario(base, file);
  }
  return parseScenario({ ...(base as Record<string, unknown>), ...fromFlags }, file ?? 'the command line');
}
