// Pulls what the docs promise out of Markdown: every `gatehouse …` command line, every /api/v1 route and
// every config key, from fenced code blocks and from inline code, with the file and line it came from.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Mention {
  /** `docs/cli.md:25` */
  where: string;
  text: string;
  /** True inside a fenced block (a line someone will paste), false for inline code in prose. */
  block: boolean;
  /** The fence's language (`sh`, `yaml`, …), '' for inline code and bare fences. */
  lang: string;
}

/** The Markdown pages the honesty test reads: the README and every page under docs/. */
export function docPages(root: string): string[] {
  const pages = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...pages.sort()];
}

/**
 * Code in a page: each fenced block as one mention per logical line (a trailing `\` joins the next line),
 * whole blocks separately (for YAML), and each inline code span. Prose outside code is not read: it
 * names things loosely ("the door commands") and would only produce noise.
 */
export function codeOf(
  page: string,
  markdown: string,
): { lines: Mention[]; blocks: Mention[]; spans: Mention[] } {
  const lines: Mention[] = [];
  const blocks: Mention[] = [];
  const spans: Mention[] = [];
  const source = markdown.split('\n');
  let fence: { marker: string; lang: string; start: number; body: string[] } | null = null;
  let pending = '';
  let pendingLine = 0;
  for (let i = 0; i < source.length; i++) {
    const line = source[i]!;
    const opener = /^\s*(```+|~~~+)\s*([\w-]*)/.exec(line);
    if (fence === null) {
      if (opener) {
        fence = { marker: opener[1]!, lang: opener[2] ?? '', start: i + 1, body: [] };
        continue;
      }
      for (const match of line.matchAll(/(`+)(.+?)\1/g)) {
        spans.push({ where: `${page}:${i + 1}`, text: match[2]!.trim(), block: false, lang: '' });
      }
      continue;
    }
    if (line.trim().startsWith(fence.marker)) {
      blocks.push({
        where: `${page}:${fence.start}`,
        text: fence.body.join('\n'),
        block: true,
        lang: fence.lang,
      });
      fence = null;
      continue;
    }
    fence.body.push(line);
    if (pending === '') pendingLine = i + 1;
    if (line.trimEnd().endsWith('\\')) {
      pending += `${line.trimEnd().slice(0, -1)} `;
      continue;
    }
    lines.push({ where: `${page}:${pendingLine}`, text: pending + line, block: true, lang: fence.lang });
    pending = '';
  }
  return { lines, blocks, spans };
}

/** Splits a shell-like command line into words, keeping quoted strings whole. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
    out.push(match[1] ?? match[2] ?? match[3]!);
  }
  return out;
}

/**
 * Every `gatehouse` invocation in a piece of code, as the words after the program name: `npx gatehouse …`,
 * a line or span that starts with `gatehouse …` (after an optional `$ ` prompt), and the compiled entry
 * point `node dist/hub/main.js …`. Placeholders (`<credential id>`, `FILE`, `…`) stay as words; the
 * invocation ends at a comment, a pipe, `&&`, `;`, `)` or a redirection.
 */
export function invocations(text: string): string[][] {
  const found: string[][] = [];
  const pattern =
    /(?:^\s*(?:\$\s+)?|\bnpx\s+)gatehouse\b(?![-./:@\w])|\bnode\s+(?:--\S+\s+)*(?:\S*\/)?dist\/hub\/main\.js\b/g;
  for (const match of text.matchAll(pattern)) {
    let rest = text.slice(match.index + match[0].length);
    rest = rest.split(/\s#|\s\||&&|;|\)|\s>|\s2>|`/)[0] ?? '';
    rest = rest.replace(/<[^>]*>/g, 'ARG');
    found.push(words(rest));
  }
  return found;
}

/** `GET /api/v1/people/{id}` or a bare `/api/v1/status`, with the method when the text names one. */
export interface RouteMention {
  method: string | null;
  path: string;
}

const METHOD = /\b(GET|POST|PUT|PATCH|DELETE)\b/;

/**
 * Every /api/v1 path in a piece of code. `{card\|code}` alternatives become one path each, a query
 * string is dropped, and the method is the one written before the path, or for a curl line `-X METHOD`
 * (GET without it, POST when the line sends data).
 */
export function routes(text: string): RouteMention[] {
  const found: RouteMention[] = [];
  for (const match of text.matchAll(/\/api\/v1(?:\/[\w{}.:\\|-]+)*/g)) {
    const path = match[0].replace(/\\\|/g, '|').replace(/[.:]+$/, '');
    let method: string | null = null;
    if (/\bcurl\b/.test(text)) {
      method = /-X\s+(\w+)/.exec(text)?.[1] ?? (/\s(-d|--data\S*)\s/.test(text) ? 'POST' : 'GET');
    } else {
      const before = text.slice(0, match.index);
      const named = METHOD.exec(before.slice(-12));
      method = named ? named[1]! : null;
    }
    for (const expanded of expandAlternatives(path)) found.push({ method, path: expanded });
  }
  return found;
}

function expandAlternatives(path: string): string[] {
  const match = /\{([^{}]*\|[^{}]*)\}/.exec(path);
  if (!match) return [path];
  return match[1]!.split('|').flatMap((choice) => expandAlternatives(path.replace(match[0], choice)));
}

export function readPage(root: string, page: string): string {
  return readFileSync(join(root, page), 'utf8');
}
