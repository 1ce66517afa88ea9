// docs/cli.md and the CLI agree: every `npx gatehouse …` line in the page names a real command with real
// options, and every command and option of the CLI appears in the page.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../hub/cli/program.js';
import { ROOT } from '../helpers/hub.js';

const DOCS = path.join(ROOT, 'docs');
const page = readFileSync(path.join(DOCS, 'cli.md'), 'utf8');
/** `hw` is documented on its own page; cli.md links to it. */
const reference = `${page}\n${readFileSync(path.join(DOCS, 'hardware-testing.md'), 'utf8')}`;
const everyPage = [
  ...readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(DOCS, f)),
  path.join(ROOT, 'README.md'),
]
  .map((file) => readFileSync(file, 'utf8'))
  .join('\n');
const io = { out: () => {}, err: () => {}, readSecret: async () => '' };

/** Shell-like words of a documented command line, quotes removed, comment and pipes cut. */
function words(line: string): string[] {
  const text = line.replace(/\s+#.*$/, '');
  return [...text.matchAll(/"[^"]*"|'[^']*'|\S+/g)].map((m) => m[0].replace(/^["']|["']$/g, ''));
}

/** Every `npx gatehouse …` invocation in the text (code blocks and inline code). */
function documented(text: string): string[][] {
  const lines: string[][] = [];
  for (const m of text.matchAll(/npx gatehouse ([^`\n|]*)/g)) lines.push(words(m[1]!));
  return lines;
}

function leaves(command: Command, prefix: string[] = []): Array<{ path: string[]; command: Command }> {
  const subs = command.commands.filter((c) => c.name() !== 'help');
  if (subs.length === 0) return [{ path: prefix, command }];
  return subs.flatMap((c) => leaves(c, [...prefix, c.name()]));
}

const program = buildProgram(io);

function resolve(args: string[]): { command: Command; rest: string[] } {
  let command = program;
  let rest = args.filter((a) => a !== '--json');
  while (rest.length > 0) {
    const sub = command.commands.find((c) => c.name() === rest[0] || c.aliases().includes(rest[0]!));
    if (!sub) break;
    command = sub;
    rest = rest.slice(1);
  }
  // `events -n 50` runs the default subcommand (`events list`).
  const fallback = (command as unknown as { _defaultCommandName?: string })._defaultCommandName;
  if (fallback) command = command.commands.find((c) => c.name() === fallback) ?? command;
  return { command, rest };
}

describe('docs/cli.md', () => {
  it('(and every other page) names only commands and options that exist', () => {
    const problems: string[] = [];
    for (const args of documented(everyPage)) {
      if (args[0] === '<command>' || args[0] === '--help' || args[0] === '…') continue;
      const { command, rest } = resolve(args);
      if (command === program) {
        problems.push(`no command: ${args.join(' ')}`);
        continue;
      }
      const known = new Set(
        [...command.options, ...program.options].flatMap(
          (o) => [o.long, o.short].filter(Boolean) as string[],
        ),
      );
      known.add('--help');
      for (const word of rest) {
        const flag = word.split('=')[0]!;
        if (flag.startsWith('-') && !known.has(flag)) problems.push(`${args.join(' ')}: no option ${flag}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('shows every command and every option of the CLI', () => {
    const missing: string[] = [];
    const docs = documented(reference).map((a) => a.filter((w) => w !== '--json'));
    for (const { path: commandPath, command } of leaves(program)) {
      const uses = docs.filter((a) => commandPath.every((w, i) => a[i] === w));
      if (uses.length === 0) {
        missing.push(commandPath.join(' '));
        continue;
      }
      for (const option of command.options) {
        if (option.hidden) continue;
        const flags = [option.long, option.short].filter(Boolean) as string[];
        const shown = uses.some((a) => a.some((w) => flags.includes(w.split('=')[0]!)));
        if (!shown) missing.push(`${commandPath.join(' ')} ${option.long}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
