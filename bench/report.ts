// The shape every benchmark figure takes in the report (`npm run bench` → JSON + Markdown, docs/proof.md):
// a value, the baseline measured in the same run, and the goal it is held to.

export interface Goal {
  /** `<=` or `>=` against `value` (or against the ratio to the baseline when `ofBaseline`). */
  op: '<=' | '>=';
  value: number;
  /** The ratio value / baseline.value is compared, not the value itself. */
  ofBaseline?: boolean;
  /** Where the goal comes from, e.g. "#13" or "docs/architecture.md". */
  source?: string;
}

export interface Figure {
  /** Short and stable, e.g. "decision round trip p99". */
  name: string;
  value: number;
  unit: 'ms' | 's' | 'MiB' | 'MB/day' | 'count' | 'ratio' | 'per s' | 'bytes' | '%';
  /** The same thing measured in the same run on something known (bare mosquitto, idle hub, …). */
  baseline?: { name: string; value: number };
  goal?: Goal;
  /** A sentence for a reader who is not a programmer, when the name is not enough. */
  note?: string;
}

/** What a suite returns: its figures for the table, anything else it measured for the JSON. */
export interface SuiteResult {
  figures: Figure[];
  [raw: string]: unknown;
}

/** Met, not met, or no goal. */
export function goalMet(figure: Figure): boolean | null {
  const g = figure.goal;
  if (!g) return null;
  const compared = g.ofBaseline
    ? figure.baseline && figure.baseline.value !== 0
      ? figure.value / figure.baseline.value
      : Number.NaN
    : figure.value;
  if (!Number.isFinite(compared)) return false;
  return g.op === '<=' ? compared <= g.value : compared >= g.value;
}
