// `npm run faults [-- --quick] [name ...]`: runs the fault scenarios against real hubs and prints, for each,
// what it did, what it measured and pass/fail; a JSON report goes to --json <file>. Exit 1 when any fails.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { passed, type ScenarioResult } from './scenario.js';
import { SCENARIOS } from './scenarios/index.js';

function parseArgs(argv: string[]): { quick: boolean; json: string | null; names: string[] } {
  const quick = argv.includes('--quick') || process.env.FAULTS_QUICK === '1';
  const at = argv.indexOf('--json');
  const json = at >= 0 ? (argv[at + 1] ?? null) : null;
  const names = argv.filter((a, i) => !a.startsWith('--') && !(at >= 0 && i === at + 1));
  return { quick, json, names };
}

async function main(): Promise<number> {
  const { quick, json, names } = parseArgs(process.argv.slice(2));
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`,
    );
    return 2;
  }
  const chosen = names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
  const root = mkdtempSync(path.join(tmpdir(), 'gh-faults-'));
  const report: Array<
    { name: string; title: string; passed: boolean; seconds: number } & Partial<ScenarioResult> & {
        error?: string;
      }
  > = [];
  for (const scenario of chosen) {
    const workDir = path.join(root, scenario.name);
    mkdirSync(workDir, { recursive: true });
    process.stdout.write(`\n== ${scenario.name}: ${scenario.title}${quick ? ' (quick)' : ''}\n`);
    const started = performance.now();
    const log = (line: string) => process.stdout.write(`   ${line}\n`);
    try {
      const result = await scenario.run({ quick, log, workDir });
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      const ok = passed(result);
      process.stdout.write(`   did: ${result.did}\n`);
      for (const [k, v] of Object.entries(result.measured)) process.stdout.write(`   measured ${k}: ${v}\n`);
      for (const c of result.checks) {
        process.stdout.write(`   ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}${c.detail ? ` (${c.detail})` : ''}\n`);
      }
      process.stdout.write(`   ${ok ? 'PASS' : 'FAIL'} in ${seconds} s\n`);
      report.push({ name: scenario.name, title: scenario.title, passed: ok, seconds, ...result });
    } catch (err) {
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      process.stdout.write(`   FAIL: ${(err as Error).message}\n`);
      report.push({
        name: scenario.name,
        title: scenario.title,
        passed: false,
        seconds,
        error: (err as Error).message,
      });
    }
  }
  const failed = report.filter((r) => !r.passed).map((r) => r.name);
  process.stdout.write(
    `\n${report.length - failed.length}/${report.length} scenarios passed${failed.length ? `; failed: ${failed.join(', ')}` : ''}\n`,
  );
  if (json)
    writeFileSync(
      json,
      `${JSON.stringify({ when: new Date().toISOString(), quick, node: process.version, scenarios: report }, null, 2)}\n`,
    );
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main();
