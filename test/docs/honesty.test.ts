// The docs keep their promises where a machine can check them: every `gatehouse …` command and flag they
// show exists in the CLI, every /api/v1 route they name is served by a real hub, and every config key they
// name is in the config schema. What cannot exist yet is listed below with the reason.
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Hub } from '../../hub/app.js';
import { buildProgram } from '../../hub/cli/program.js';
import { ConfigSchema, configLeaves, envNameFor } from '../../hub/config/index.js';
import { ROOT, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { sourceFiles } from '../hygiene/source.js';
import { codeOf, docPages, invocations, readPage, routes } from './extract.js';

/**
 * Named in the docs but not in the code, on purpose or for now. Each entry says why; entries marked
 * "merge:" are drift another branch of issue #9 fixes: the lead deletes them after merging that branch
 * (the test fails on an entry that is no longer needed, so none outlives its reason).
 */
const BROKER_CALLOUT =
  'served only in external broker mode with mqtt.external.authSecretFile set (test/external-broker/broker-auth.test.ts checks them)';
const ALLOWED: Record<string, string> = {
  // Forward references: things the docs announce as coming, clearly marked so in the text.
  // The broker's callouts exist only when an external broker is configured to call them.
  'route POST /api/v1/broker/emqx/auth': BROKER_CALLOUT,
  'route POST /api/v1/broker/emqx/acl': BROKER_CALLOUT,
  'route POST /api/v1/broker/vernemq/auth_on_register': BROKER_CALLOUT,
  'route POST /api/v1/broker/vernemq/auth_on_publish': BROKER_CALLOUT,
  'route POST /api/v1/broker/vernemq/auth_on_subscribe': BROKER_CALLOUT,
  'route ANY /api/v1/broker/vernemq/auth_on_register': BROKER_CALLOUT,
  'route ANY /api/v1/broker/emqx/auth': BROKER_CALLOUT,
  'route ANY /api/v1/broker/emqx/acl': BROKER_CALLOUT,
};

const program = buildProgram();
const pages = docPages(ROOT).map((page) => ({ page, ...codeOf(page, readPage(ROOT, page)) }));

interface Finding {
  key: string;
  where: string;
  problem: string;
}

function check(findings: Finding[], used: Set<string>): string[] {
  const left: string[] = [];
  for (const f of findings) {
    if (f.key in ALLOWED) used.add(f.key);
    else left.push(`${f.where}: ${f.problem}`);
  }
  return [...new Set(left)];
}

// ---- CLI ----------------------------------------------------------------------------------------------

interface CommanderInternals {
  _actionHandler: unknown;
  _defaultCommandName: string | null;
}

function subcommand(command: Command, name: string): Command | undefined {
  return command.commands.find((c) => c.name() === name || c.aliases().includes(name));
}

function defaultOf(command: Command): Command | undefined {
  const name = (command as unknown as CommanderInternals)._defaultCommandName;
  return name ? subcommand(command, name) : undefined;
}

const PLACEHOLDER = /^(ARG|…|\.\.\.|[A-Z][A-Z0-9_]*)$/;

/** Walks commander's tree along the words; a problem in plain words, or null when the line parses. */
function cliProblem(argv: string[], complete: boolean): { key: string; problem: string } | null {
  let command: Command = program;
  const chain: Command[] = [program];
  let positional = false;
  const path = () => chain.map((c) => c.name()).join(' ');
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') break;
    if (/^--?[A-Za-z]/.test(word)) {
      const flag = word.split('=')[0]!;
      if (flag === '--help' || flag === '-h') return null;
      const find = () => chain.flatMap((c) => c.options).find((o) => o.long === flag || o.short === flag);
      let option = find();
      const fallback = defaultOf(command);
      if (!option && fallback && !positional) {
        // `gatehouse events -n 5` runs the default subcommand (`events list`) with the option.
        command = fallback;
        chain.push(fallback);
        option = find();
      }
      if (!option) return { key: `cli ${path()} ${flag}`, problem: `'${path()}' has no option ${flag}` };
      if ((option.required || option.optional) && !word.includes('=') && !option.variadic) i++;
      continue;
    }
    if (positional) continue;
    // A synopsis such as `hw list|relay|watch`: every alternative must be a subcommand.
    const choices = word.split('|');
    if (choices.length > 1 && choices.every((choice) => subcommand(command, choice))) return null;
    const sub = subcommand(command, word);
    if (sub) {
      command = sub;
      chain.push(sub);
      continue;
    }
    const fallback = defaultOf(command);
    if (fallback) {
      command = fallback;
      chain.push(fallback);
      positional = true;
      continue;
    }
    const internals = command as unknown as CommanderInternals;
    const takesArguments = command.registeredArguments.length > 0 || internals._actionHandler != null;
    if (command.commands.length > 0 && !takesArguments) {
      if (PLACEHOLDER.test(word)) return null; // `gatehouse <command> --help`
      return { key: `cli ${path()} ${word}`, problem: `'${path()} ${word}': no such command` };
    }
    positional = true;
  }
  const internals = command as unknown as CommanderInternals;
  if (
    complete &&
    command.commands.length > 0 &&
    internals._actionHandler == null &&
    !internals._defaultCommandName
  ) {
    return { key: `cli ${path()}`, problem: `'${path()}' does nothing without one of its subcommands` };
  }
  return null;
}

function cliFindings(): Finding[] {
  const findings: Finding[] = [];
  for (const { lines, spans } of pages) {
    for (const mention of [...lines, ...spans]) {
      for (const argv of invocations(mention.text)) {
        // A line in a code block is pasted as is; inline code in prose may name a group (`gatehouse door`).
        const problem = cliProblem(argv, mention.block);
        if (problem) findings.push({ ...problem, where: mention.where });
      }
    }
  }
  return findings;
}

// ---- config -------------------------------------------------------------------------------------------

const leaves = configLeaves(ConfigSchema);
const CONFIG_PATHS = new Set(
  leaves.flatMap((leaf) => leaf.path.map((_, i) => leaf.path.slice(0, i + 1).join('.'))),
);
const TOP_LEVEL = new Set(leaves.map((leaf) => leaf.path[0]!));
const ENV_NAMES = new Set(leaves.map((leaf) => envNameFor(leaf.path)));
/** The code, to tell a config key from an event type or a stored key with a dotted name (`cloud.conflict`). */
const CODE = sourceFiles('hub', 'adapters', 'deploy', 'bench')
  .map((file) => file.text)
  .join('\n');

/** A dotted name in the docs is real when it is a setting, or a string the code uses (an event type, a key). */
function namedInCode(name: string): boolean {
  return CONFIG_PATHS.has(name) || CODE.includes(`'${name}'`);
}

/** Keys of a YAML example, as dotted paths (array items are not followed: door lists are wiring.md's). */
function yamlPaths(value: unknown, prefix: string[] = []): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const path = [...prefix, key];
    return [path.join('.'), ...yamlPaths(child, path)];
  });
}

function configFindings(): Finding[] {
  const findings: Finding[] = [];
  const missing = (key: string, where: string, what: string) =>
    findings.push({ key: `config ${key}`, where, problem: `${what} ${key} is not in the config schema` });
  for (const { spans, lines, blocks } of pages) {
    // A dotted name in inline code whose first part is a config section: `http.sessionHours`.
    for (const span of spans) {
      const name = /^([a-z][A-Za-z0-9]*)(\.[a-z][A-Za-z0-9]*)+$/.exec(span.text);
      if (!name || !TOP_LEVEL.has(name[1]!) || namedInCode(span.text)) continue;
      // benchmarks.md names fields of the `npm run bench` report (`cloud.changeFlood`), not settings.
      const field = span.text.split('.').pop()!;
      if (span.where.startsWith('docs/benchmarks.md') && new RegExp(`\\b${field}:`).test(CODE)) continue;
      missing(span.text, span.where, 'setting');
    }
    // A YAML example whose top level is config (not docker compose or a device's payload).
    for (const block of blocks.filter((b) => b.lang === 'yaml' || b.lang === 'yml')) {
      let value: unknown;
      try {
        value = parseYaml(block.text);
      } catch {
        findings.push({
          key: `yaml ${block.where}`,
          where: block.where,
          problem: 'YAML example does not parse',
        });
        continue;
      }
      if (value === null || typeof value !== 'object') continue;
      if (!Object.keys(value).some((key) => TOP_LEVEL.has(key))) continue;
      for (const path of yamlPaths(value))
        if (!CONFIG_PATHS.has(path)) missing(path, block.where, 'YAML key');
    }
    // Environment overrides: GATEHOUSE_HTTP_HTTPS_PORT and friends.
    for (const mention of [...spans, ...lines]) {
      for (const match of mention.text.matchAll(/\bGATEHOUSE_[A-Z0-9_]+\b/g)) {
        if (!ENV_NAMES.has(match[0]) && !CODE.includes(match[0]))
          missing(match[0], mention.where, 'environment variable');
      }
    }
  }
  return findings;
}

// ---- HTTP ---------------------------------------------------------------------------------------------

let dir: string;
let hub: Hub;

beforeAll(async () => {
  dir = tempDataDir();
  // Every optional part on, so each of their routes is there to be found.
  hub = await startHub(dir, { simulation: { door: 'sim-front' }, doorSync: { enabled: true } });
});
afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

/**
 * Whether the running hub routes `method path` (placeholders filled in). Asked without a login, so no
 * route runs: it answers 401, 400 or the like, while a path the hub does not serve gets the not-found
 * handler's 404 — told apart from a route's own 404 by `{"error":"not found"}`.
 */
async function served(method: string, path: string): Promise<boolean> {
  const url = path.replace(/\{[^}]*\}|:\w+/g, 'x1');
  const port = hub.addresses().http.http!;
  const res = await fetch(`http://127.0.0.1:${port}${url}`, {
    method,
    headers: method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' },
    ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  await res.body?.cancel().catch(() => {});
  return !(res.status === 404 && /"error":"not found"/.test(text));
}

async function routeFindings(): Promise<Finding[]> {
  const named = new Map<string, string>();
  for (const { lines, spans } of pages) {
    for (const mention of [...lines, ...spans]) {
      for (const route of routes(mention.text)) {
        const key = `${route.method ?? 'ANY'} ${route.path}`;
        if (!named.has(key)) named.set(key, mention.where);
      }
    }
  }
  const findings: Finding[] = [];
  for (const [key, where] of named) {
    const [method, path] = key.split(' ') as [string, string];
    const methods = method === 'ANY' ? ['GET', 'POST', 'PUT', 'DELETE'] : [method];
    let found = false;
    for (const m of methods) if (!found && (await served(m, path))) found = true;
    if (!found) findings.push({ key: `route ${key}`, where, problem: `the hub does not serve ${key}` });
  }
  return findings;
}

// ---- the test -----------------------------------------------------------------------------------------

describe('the docs name only what exists', () => {
  const used = new Set<string>();

  it('reads every page, with commands, routes and settings in them', () => {
    expect(pages.map((p) => p.page)).toContain('docs/cli.md');
    const all = pages.flatMap((p) => [...p.lines, ...p.spans]);
    expect(all.flatMap((m) => invocations(m.text)).length).toBeGreaterThan(100);
    expect(all.flatMap((m) => routes(m.text)).length).toBeGreaterThan(20);
  });

  it('the probe tells a served route from a missing one', async () => {
    expect(await served('GET', '/api/v1/health')).toBe(true);
    expect(await served('GET', '/api/v1/people')).toBe(true); // 401 without a login: served
    expect(await served('GET', '/api/v1/no-such-thing')).toBe(false);
    expect(await served('POST', '/api/v1/health')).toBe(false);
  });

  it('every `gatehouse …` command and flag exists in the CLI', () => {
    expect(check(cliFindings(), used)).toEqual([]);
  });

  it('every /api/v1 route exists on a running hub', async () => {
    expect(check(await routeFindings(), used)).toEqual([]);
  });

  it('every config key and GATEHOUSE_* variable exists in the config schema', () => {
    expect(check(configFindings(), used)).toEqual([]);
  });

  it('the README lists every page under docs/', () => {
    const readme = readPage(ROOT, 'README.md');
    const unlisted = pages
      .map((p) => p.page)
      .filter((page) => page !== 'README.md' && !readme.includes(`](${page})`));
    expect(unlisted).toEqual([]);
  });

  it('every allow-list entry is still needed', () => {
    expect(Object.keys(ALLOWED).filter((key) => !used.has(key))).toEqual([]);
  });
});
