// Logs (docs/monitoring.md, "Logs"): JSON lines when standard output is not a terminal, readable lines when
// it is (the built hub run under util-linux `script`, a real pseudo-terminal), and secrets redacted in both.
import { execFileSync, spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, type LogFormat } from '../../hub/logger.js';
import { hubEnv, MAIN, removeDir, tempDataDir } from '../helpers/hub.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) removeDir(dir);
});

function capture(format: LogFormat, terminal: boolean) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger('info', sink, { format, terminal }), lines };
}

const SECRET = 'hunter2-very-secret';

function logSecrets(logger: ReturnType<typeof createLogger>): void {
  logger
    .child({ part: 'broker' })
    .info(
      { device: 'front-reader', password: SECRET, nested: { token: SECRET, secret: SECRET } },
      'device logged in',
    );
  logger.warn({ authorization: `Bearer ${SECRET}`, pin: '1234' }, 'refused');
}

/** Removes ANSI colour sequences (ESC [ … m). */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const stripColours = (line: string) => line.replace(COLOUR, '');

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('log format', () => {
  it('json: one object per line, secrets redacted', () => {
    const { logger, lines } = capture('json', true);
    logSecrets(logger);
    const text = lines.join('');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('1234');
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ part: 'broker', msg: 'device logged in', password: '[redacted]' });
    expect(first.nested).toEqual({ token: '[redacted]', secret: '[redacted]' });
  });

  it('pretty: readable lines with the part in front, the same redaction', () => {
    const { logger, lines } = capture('pretty', false);
    logSecrets(logger);
    const text = lines.join('');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('1234');
    expect(text).toContain('[redacted]');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: broker: device logged in \{.*"device":"front-reader"/,
    );
    expect(lines[1]).toMatch(/WARN: refused/);
    expect(() => JSON.parse(lines[0]!)).toThrow();
    // No colour codes unless a terminal shows them.
    expect(text).not.toContain('\u001b[');
  });

  it('auto: pretty on a terminal, JSON elsewhere', () => {
    const tty = capture('auto', true);
    tty.logger.info('hello');
    expect(tty.lines[0]).toMatch(/INFO.*hello/);
    expect(tty.lines[0]).not.toMatch(/^\{/);
    const pipe = capture('auto', false);
    pipe.logger.info('hello');
    expect(JSON.parse(pipe.lines[0]!)).toMatchObject({ msg: 'hello' });
  });
});

/** Hub start on a busy test machine can take a while; a person would wait too. */
const START_MS = 60_000;

/**
 * Runs the built hub (`terminal`: under `script`, which gives it a real pseudo-terminal as standard
 * output; else a pipe), waits for "deciding", stops it as a person or systemd would, returns its output.
 */
function runHub(
  terminal: boolean,
  env: NodeJS.ProcessEnv = {},
): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const dir = tempDataDir();
    dirs.push(dir);
    const command = terminal ? 'script' : process.execPath;
    const args = terminal ? ['-qfec', `${process.execPath} ${MAIN} start`, '/dev/null'] : [MAIN, 'start'];
    const child = spawn(command, args, { env: { ...hubEnv(dir), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let stopping = false;
    child.stdin.on('error', () => undefined); // the terminal may be gone by the time ^C is written
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "deciding" within ${START_MS / 1000} s:\n${out}`));
    }, START_MS);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!stopping && /deciding/.test(out)) {
        stopping = true;
        clearTimeout(timer);
        // Ctrl-C on the terminal, as a person at the console stops it; SIGTERM as systemd does.
        if (terminal) child.stdin.write('\u0003');
        else child.kill('SIGTERM');
      }
    });
    child.on('exit', (code) => resolve({ out, code }));
  });
}

describe('the built hub', () => {
  it(
    'logs JSON lines when its output is a pipe (journald, Docker)',
    async () => {
      const { out, code } = await runHub(false);
      expect(code).toBe(0);
      const lines = out.split('\n').filter((l) => l !== '');
      const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>); // every line is JSON
      expect(entries.some((l) => l.msg === 'deciding' && l.part === undefined)).toBe(true);
      expect(entries.some((l) => l.part === 'broker')).toBe(true);
      expect(out).not.toContain('\u001b[');
    },
    2 * START_MS,
  );

  it.skipIf(!hasScript())(
    'logs readable lines on a terminal (under `script`), and JSON there with log.format json',
    async () => {
      const run = async (env: NodeJS.ProcessEnv) => (await runHub(true, env)).out;

      const readable = await run({});
      const lines = readable.split(/\r?\n/).filter((l) => l.trim() !== '');
      const deciding = lines.find((l) => /deciding/.test(l))!;
      // Colours on a terminal; strip them to read the text.
      expect(deciding).toContain('\u001b[');
      const plain = stripColours(deciding);
      expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: deciding \{"mqtt":/);
      expect(lines.some((l) => stripColours(l).includes('INFO: broker: MQTT listening'))).toBe(true);
      expect(lines.filter((l) => l.startsWith('{"level"'))).toEqual([]);
      // Ctrl-C stopped it cleanly, and said so readably.
      expect(lines.some((l) => stripColours(l).includes('INFO: stopped'))).toBe(true);

      const json = await run({ GATEHOUSE_LOG_FORMAT: 'json' });
      const decidingJson = json.split(/\r?\n/).find((l) => /"msg":"deciding"/.test(l));
      expect(JSON.parse(decidingJson!)).toMatchObject({ msg: 'deciding', app: 'gatehouse' });
    },
    3 * START_MS,
  );
});
