// Runs `gatehouse …` in this process (runCli, the same code the binary runs) on a temp data dir, with
// the output captured and stdin given as a string. Child-process runs use cli() from test/helpers/hub.ts.
import { expect } from 'vitest';
import { runCli } from '../../hub/cli/program.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runIn(dataDir: string, args: string[], stdin = ''): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const previous = process.env.GATEHOUSE_DATA;
  process.env.GATEHOUSE_DATA = dataDir;
  process.exitCode = undefined;
  try {
    const code = await runCli(args, {
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      readSecret: async () => stdin.split('\n')[0] ?? '',
    });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    process.exitCode = undefined;
    if (previous === undefined) delete process.env.GATEHOUSE_DATA;
    else process.env.GATEHOUSE_DATA = previous;
  }
}

/** Runs a command that must succeed (exit 0, nothing on stderr) and returns its output. */
export async function succeedIn(dataDir: string, args: string[], stdin?: string): Promise<string> {
  const res = await runIn(dataDir, args, stdin);
  expect(res.stderr, args.join(' ')).toBe('');
  expect(res.code, args.join(' ')).toBe(0);
  return res.stdout;
}
