// A small Dockerfile reader for the tests: instructions with their stage, continuation lines joined,
// comments dropped, JSON-form arguments parsed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import { ROOT } from '../helpers/hub.js';

export interface Instruction {
  keyword: string;
  args: string;
  /** Index of the FROM this instruction belongs to (0 = the first stage). */
  stage: number;
  line: number;
}

export const DOCKERFILE = path.join(ROOT, 'Dockerfile');

export function readDockerfile(file = DOCKERFILE): { text: string; instructions: Instruction[] } {
  const text = readFileSync(file, 'utf8');
  const instructions: Instruction[] = [];
  let stage = -1;
  let pending: { text: string; line: number } | null = null;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === null && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending !== null && line.trimStart().startsWith('#')) return; // a comment inside a continuation
    const current: { text: string; line: number } = pending ?? { text: '', line: index + 1 };
    const continued = line.endsWith('\\');
    current.text += `${current.text ? ' ' : ''}${(continued ? line.slice(0, -1) : line).trim()}`;
    if (continued) {
      pending = current;
      return;
    }
    pending = null;
    const match = /^(\S+)\s*(.*)$/.exec(current.text)!;
    const keyword = match[1]!.toUpperCase();
    if (keyword === 'FROM') stage++;
    instructions.push({ keyword, args: match[2]!, stage, line: current.line });
  });
  return { text, instructions };
}

/** `["node", "x"]` → ['node', 'x']; a shell-form argument is refused (the tests want exec form). */
export function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`not an exec-form array: ${args}`);
  }
  return parsed;
}

/** ENV in both forms: `A=1 B=2` or `A 1`. */
export function envOf(instructions: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of instructions.filter((x) => x.keyword === 'ENV')) {
    const pairs = [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)];
    if (pairs.length === 0) {
      const [name, ...rest] = i.args.split(/\s+/);
      env[name!] = rest.join(' ');
    }
    for (const [, name, value] of pairs) env[name!] = value!.replace(/^"|"$/g, '');
  }
  return env;
}

/** dockerfile-utils' diagnostics, one line each: `<line>: <message>`. */
export function lintDockerfile(text: string): string[] {
  return validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`);
}
