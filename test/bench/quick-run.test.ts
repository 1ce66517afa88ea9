// A real `npm run bench -- --quick --only broker --out DIR` (compiled: dist/bench/run.js, built by
// `npm run build` before the tests): mosquitto, aedes and a hub process, short rounds. It must write a
// report whose every figure fits the format; the numbers themselves are not judged here.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type BenchReport, figuresOf, renderMarkdown } from '../../bench/report.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUN = path.join(ROOT, 'dist/bench/run.js');

function bench(args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [RUN, ...args],
      { env: { ...process.env, ...env }, cwd: ROOT, maxBuffer: 32 * 1024 * 1024, timeout: 170_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run bench -- --quick --only broker', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'gh-bench-report-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes one valid report as JSON on stdout and as report.json + report.md', {
    timeout: 180_000,
  }, async () => {
    expect(existsSync(RUN), 'dist/bench/run.js: run `npm run build` first').toBe(true);
    const run = await bench(['--quick', '--only', 'broker', '--out', out], {
      // Shorter still than --quick: this checks the report, not the broker.
      BENCH_BROKER_SECONDS: '1',
      BENCH_BROKER_IDLE_CLIENTS: '20',
      BENCH_BROKER_CREDENTIALS: '2000',
    });
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(run.stdout) as BenchReport;
    expect(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'))).toEqual(report);
    expect(report.quick).toBe(true);
    expect(report.only).toEqual(['broker']);
    expect(Object.keys(report.suites)).toEqual(['broker']);
    const broker = report.suites.broker!;
    expect(broker.status, JSON.stringify(broker).slice(0, 500)).toBe('ran');
    if (broker.status !== 'ran') return;
    const figures = figuresOf(broker.result);
    expect(Array.isArray(figures), JSON.stringify(figures)).toBe(true);
    if (!Array.isArray(figures)) return;
    const hub = figures.find((f) => f.name === 'hub decision round trip p50, paced');
    expect(hub?.baseline?.name).toBe('mosquitto echo p50');
    expect(hub?.goal).toMatchObject({ op: '<=', value: 2, ofBaseline: true });
    // Every round trip was measured on all three (a broker that did not answer leaves NaN here).
    for (const f of figures) expect(Number.isFinite(f.value), f.name).toBe(true);
    expect(figures.find((f) => f.name === 'requests lost (all three)')?.value).toBe(0);

    const markdown = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(markdown).toBe(renderMarkdown(report));
    expect(markdown).toContain('(quick)');
    expect(markdown.split('\n').filter((l) => l.startsWith('| broker |'))).toHaveLength(figures.length);
  });

  it('refuses an unknown suite', async () => {
    const run = await bench(['--only', 'broker,nonsense']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown suite nonsense');
    expect(run.stdout).toBe('');
  });
});
