// `npm run simulate -- --doors 50 --residents 2000 --hours 24 --speed 600`: a building's day against a
// real hub (docs/proof.md, "The building simulator"). Exit code 0 when every check passed, 1 when one
// failed (an event lost or duplicated, a revoked credential that opened a door, …), 2 for bad options.
import { parseArgs, ScenarioError } from './options.js';
import { runSimulation } from './run.js';

const started = performance.now();
/** Progress and incidents on stderr, with the real time since start; the summary goes to stdout. */
const log = (line: string) =>
  process.stderr.write(`[simulate +${((performance.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

async function main(): Promise<number> {
  let scenario: ReturnType<typeof parseArgs>;
  try {
    scenario = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ScenarioError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const report = await runSimulation(scenario, log);
  const summary = {
    ok: report.ok,
    decisions: report.decisions.total,
    byResult: report.decisions.byResult,
    latencyMsByDoorType: report.latencyMsByDoorType,
    alarms: report.alarms,
    cloud: {
      inHubLog: report.cloud.inHubLog,
      deliveredToCloud: report.cloud.deliveredToCloud,
      lost: report.cloud.lost,
      duplicated: report.cloud.duplicated,
      maxBacklog: report.cloud.maxBacklog,
    },
    failed: report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.value}`),
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `simulation failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
