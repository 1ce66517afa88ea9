// `npm run bench`: every suite, each measuring its figures next to a baseline taken in the same run, in
// one JSON report on stdout (progress on stderr) and one Markdown table (stderr; with `--out DIR` both
// are written as DIR/report.json and DIR/report.md). docs/benchmarks.md lists the suites and BENCH_*.
//
//   --only core,broker   just those suites (also BENCH_ONLY)
//   --quick              the whole report in about a minute: small sizes, short rounds, slow suites
//                        (and core) skipped unless named in --only (also BENCH_QUICK=1); marked quick in the report
//   --out DIR            also write DIR/report.json and DIR/report.md (also BENCH_OUT)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { type BenchReport, renderMarkdown, type SuiteOutcome, suiteRows, tally } from './report.js';

interface Suite {
  name: string;
  /** Why it is left out of `--quick` unless named in `--only` (it takes minutes, or repeats another). */
  notQuick?: string;
  load: () => Promise<Record<string, unknown>>;
}

const SLOW = 'takes minutes';

const SUITES: Suite[] = [
  {
    name: 'core',
    notQuick: 'at quick sizes the broker and scale suites measure the same hub figures',
    load: async () => (await import('./core.js')).benchCore(),
  },
  { name: 'broker', load: async () => (await import('./broker.js')).benchBroker() },
  { name: 'scale', load: async () => (await import('./scale.js')).benchScale() },
  { name: 'hardware', load: async () => (await import('./hardware.js')).benchHardware() },
  { name: 'offline', load: async () => (await import('./offline.js')).benchOffline() },
  { name: 'mobile', load: async () => (await import('./mobile.js')).benchMobile() },
  { name: 'cloud', notQuick: SLOW, load: async () => (await import('./cloud.js')).benchCloud() },
  { name: 'isolation', notQuick: SLOW, load: async () => (await import('./isolation.js')).benchIsolation() },
  { name: 'ui', notQuick: SLOW, load: async () => (await import('./ui.js')).benchUi() },
  {
    name: 'sdcard',
    notQuick: SLOW,
    load: async () => (await import('./sdcard.js')).benchSdcard(),
  },
  { name: 'nodered', notQuick: SLOW, load: async () => (await import('./nodered.js')).benchNodeRed() },
  {
    name: 'external-broker',
    load: async () =>
      (await import('./external-broker.js')).benchExternalBroker({
        quick: ['1', 'true'].includes(process.env.BENCH_QUICK ?? '') || process.argv.includes('--quick'),
      }),
  },
];

/**
 * `--quick`: these defaults, unless the variable is set already. The suites read them when they are
 * loaded, so they are set before any suite module is imported.
 */
export const QUICK_ENV: Record<string, string> = {
  BENCH_CREDENTIALS: '10000',
  BENCH_SECONDS: '2',
  BENCH_ROUNDS: '1',
  BENCH_BROKER_SECONDS: '2',
  BENCH_BROKER_ROUNDS: '1',
  BENCH_BROKER_IDLE_CLIENTS: '100',
  BENCH_BROKER_CREDENTIALS: '10000',
  BENCH_SCALE_SIZES: '10000',
  BENCH_SCALE_DECISIONS: '2000',
  BENCH_SCALE_SECONDS: '2',
  BENCH_HW_ITERATIONS: '20',
  BENCH_MOBILE_EXCHANGES: '50',
  BENCH_MOBILE_REVOCATIONS: '5',
  // Slow suites, when named in --only:
  BENCH_CLOUD_BACKLOG: '10000',
  BENCH_CLOUD_REVOCATIONS: '5',
  BENCH_CLOUD_FLOOD: '2000',
  BENCH_ISOLATION_SECONDS: '6',
  BENCH_UI_ROUNDS: '10',
  BENCH_UI_EVENTS: '50',
  BENCH_UI_MEMORY_CYCLES: '1',
  BENCH_SDCARD_IDLE_SECONDS: '20',
  BENCH_SDCARD_DECISIONS: '100',
  BENCH_NODERED_SECONDS: '5',
};

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function argument(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function main(): Promise<void> {
  const started = performance.now();
  const onlyArg = argument('--only') ?? process.env.BENCH_ONLY;
  const only = onlyArg ? onlyArg.split(',').filter(Boolean) : null;
  const quick = process.argv.includes('--quick') || ['1', 'true'].includes(process.env.BENCH_QUICK ?? '');
  const out = argument('--out') ?? process.env.BENCH_OUT;
  const unknown = (only ?? []).filter((name) => !SUITES.some((s) => s.name === name));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown suite ${unknown.join(', ')}; known: ${SUITES.map((s) => s.name).join(', ')}\n`,
    );
    process.exitCode = 2;
    return;
  }
  if (quick) for (const [key, value] of Object.entries(QUICK_ENV)) process.env[key] ??= value;

  const report: BenchReport = {
    when: new Date().toISOString(),
    node: process.version,
    machine: {
      cpus: cpus().length,
      memoryMiB: Math.round(totalmem() / 1024 / 1024),
      loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
      platform: `${process.platform} ${process.arch}`,
    },
    quick,
    only,
    seconds: 0,
    suites: {},
  };
  for (const suite of SUITES) {
    if (only && !only.includes(suite.name)) continue;
    if (quick && suite.notQuick && !only) {
      report.suites[suite.name] = { status: 'skipped', reason: `not in --quick: ${suite.notQuick}` };
      continue;
    }
    log(`suite: ${suite.name}${quick ? ' (quick)' : ''}`);
    const t0 = performance.now();
    const seconds = () => Math.round((performance.now() - t0) / 100) / 10;
    let outcome: SuiteOutcome;
    try {
      outcome = { status: 'ran', seconds: 0, result: await suite.load() };
      outcome.seconds = seconds();
    } catch (err) {
      outcome = { status: 'error', seconds: seconds(), error: (err as Error).message ?? String(err) };
    }
    report.suites[suite.name] = outcome;
    if (outcome.status === 'ran') log(`suite ${suite.name}: ${outcome.seconds} s`);
    else log(`suite ${suite.name} failed: ${outcome.error}`);
    // Its rows now: a long run shows what it has so far.
    process.stderr.write(`${suiteRows(suite.name, outcome).join('\n')}\n`);
  }
  report.seconds = Math.round((performance.now() - started) / 1000);

  const json = `${JSON.stringify(report, null, 2)}\n`;
  const markdown = renderMarkdown(report);
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'report.json'), json);
    writeFileSync(path.join(out, 'report.md'), markdown);
    log(`wrote ${path.join(out, 'report.json')} and report.md`);
  }
  process.stderr.write(`\n${markdown}\n`);
  const t = tally(report);
  log(`${t.figures} figures, ${t.met} goals met, ${t.notMet} not met, in ${report.seconds} s`);
  // A suite may leave a keep-alive socket or a timer behind: the report is written, so end here.
  process.stdout.write(json, () => process.exit(0));
}

await main();
