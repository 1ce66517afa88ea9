// One fault scenario of `npm run faults` (docs/proof.md): it does something bad to a real hub, says what
// it did, what it measured, and whether the hub kept its promises.

export interface ScenarioOptions {
  /** The short variant CI runs (each scenario in well under a minute); the full durations without it. */
  quick: boolean;
  /** One progress line for the person watching. */
  log: (line: string) => void;
  /** A scratch directory the scenario owns and may leave behind for a post-mortem. */
  workDir: string;
}

export interface ScenarioResult {
  /** What was done, in a sentence or two. */
  did: string;
  /** What was measured, by name (numbers with their unit in the name, e.g. "lostEvents", "p99Ms"). */
  measured: Record<string, number | string | boolean>;
  /** Each promise checked, with its outcome; the scenario passes when every one holds. */
  checks: Array<{ what: string; ok: boolean; detail?: string }>;
}

export interface Scenario {
  /** kebab-case, used on the command line: `npm run faults -- kill-9`. */
  name: string;
  /** What the scenario proves, one line. */
  title: string;
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}

export function passed(result: ScenarioResult): boolean {
  return result.checks.length > 0 && result.checks.every((c) => c.ok);
}
