// The shape every benchmark figure takes in the report (`npm run bench` → JSON + Markdown, docs/proof.md):
// a value, the baseline measured in the same run, and the goal it is held to.
import Type from 'typebox';
import { Compile } from 'typebox/compile';

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

// ---- The report: every suite's figures in one JSON and one Markdown table ----

const UnitSchema = Type.Union(
  (['ms', 's', 'MiB', 'MB/day', 'count', 'ratio', 'per s', 'bytes', '%'] as const).map((u) =>
    Type.Literal(u),
  ),
);
const FigureSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  // NaN and Infinity do not survive JSON: a figure that could not be measured comes back as null, is
  // read as NaN again and rendered "—" (and a goal on it is not met).
  value: Type.Union([Type.Number(), Type.Null()]),
  unit: UnitSchema,
  baseline: Type.Optional(
    Type.Object({
      name: Type.String({ maxLength: 200 }),
      value: Type.Union([Type.Number(), Type.Null()]),
    }),
  ),
  goal: Type.Optional(
    Type.Object({
      op: Type.Union([Type.Literal('<='), Type.Literal('>=')]),
      value: Type.Number(),
      ofBaseline: Type.Optional(Type.Boolean()),
      source: Type.Optional(Type.String({ maxLength: 200 })),
    }),
  ),
  note: Type.Optional(Type.String({ maxLength: 1000 })),
});
const figuresCheck = Compile(Type.Array(FigureSchema, { maxItems: 1000 }));

/** What one suite gave the report: its result, why it did not run, or the error it ended with. */
export type SuiteOutcome =
  | { status: 'ran'; seconds: number; result: Record<string, unknown> }
  | { status: 'skipped'; reason: string }
  | { status: 'error'; seconds: number; error: string };

export interface BenchReport {
  when: string;
  node: string;
  machine: { cpus: number; memoryMiB: number; loadAverage1m: number; platform: string };
  /** `--quick`: small sizes and short rounds, slow suites skipped; not comparable with a full run. */
  quick: boolean;
  only: string[] | null;
  seconds: number;
  suites: Record<string, SuiteOutcome>;
}

/**
 * The figures of a suite's result, checked against the Figure schema: null when the suite returns no
 * `figures` (an older suite), an error message when it returns something else.
 */
export function figuresOf(result: Record<string, unknown>): Figure[] | null | { invalid: string } {
  if (!('figures' in result)) return null;
  // JSON turns NaN into null; do the same here so a report rendered before and after JSON reads alike.
  const figures = JSON.parse(JSON.stringify(result.figures ?? null)) as unknown;
  if (figuresCheck.Check(figures))
    return (figures as Array<Figure & { value: number | null }>).map((f) => ({
      ...f,
      value: f.value ?? Number.NaN,
      ...(f.baseline ? { baseline: { ...f.baseline, value: f.baseline.value ?? Number.NaN } } : {}),
    }));
  const first = [...figuresCheck.Errors(figures)][0] as
    | { instancePath?: string; message?: string }
    | undefined;
  return {
    invalid:
      `figures do not match bench/report.ts: ${first?.instancePath ?? ''} ${first?.message ?? ''}`.trim(),
  };
}

/** Rounded for a reader: 3 significant digits below 100, one decimal below 1,000, whole numbers above. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 1000 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return String(Math.round(value * 10) / 10);
  return String(Number(value.toPrecision(3)));
}

export function formatValue(value: number | null | undefined, unit: Figure['unit']): string {
  const number = formatNumber(value);
  if (number === '—') return number;
  if (unit === 'ratio') return `${number}×`;
  if (unit === 'count') return number;
  if (unit === '%') return `${number} %`;
  return `${number} ${unit}`;
}

function goalText(figure: Figure): string {
  const g = figure.goal;
  if (!g) return '—';
  const op = g.op === '<=' ? '≤' : '≥';
  const target = g.ofBaseline ? `${formatNumber(g.value)}× baseline` : formatValue(g.value, figure.unit);
  return `${op} ${target}${g.source ? ` (${g.source})` : ''}`;
}

function baselineText(figure: Figure): string {
  const b = figure.baseline;
  if (!b) return '—';
  const value = formatValue(b.value, figure.unit);
  const ratio =
    b.value !== null && b.value !== 0 && Number.isFinite(figure.value / b.value)
      ? ` → ${formatNumber(figure.value / b.value)}×`
      : '';
  return `${b.name}: ${value}${ratio}`;
}

/** Table cells hold one line; a `|` would start a new cell. */
function cell(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/\|/g, '\\|');
}

function resultText(figure: Figure): string {
  const met = goalMet(figure);
  return met === null ? '—' : met ? 'met' : '**not met**';
}

/** Counts over every figure with a goal. */
export function tally(report: BenchReport): {
  figures: number;
  withGoal: number;
  met: number;
  notMet: number;
} {
  const counts = { figures: 0, withGoal: 0, met: 0, notMet: 0 };
  for (const outcome of Object.values(report.suites)) {
    if (outcome.status !== 'ran') continue;
    const figures = figuresOf(outcome.result);
    if (!Array.isArray(figures)) continue;
    for (const figure of figures) {
      counts.figures++;
      const met = goalMet(figure);
      if (met === null) continue;
      counts.withGoal++;
      if (met) counts.met++;
      else counts.notMet++;
    }
  }
  return counts;
}

/** The table rows of one suite (the header is renderMarkdown's). */
export function suiteRows(name: string, outcome: SuiteOutcome): string[] {
  const only = (text: string, result = '') => [`| ${cell(name)} | *${cell(text)}* | | | | ${result} |`];
  if (outcome.status === 'skipped') return only(`skipped: ${outcome.reason}`);
  if (outcome.status === 'error') return only(`error: ${outcome.error}`, '**not run**');
  const figures = figuresOf(outcome.result);
  if (figures === null) return only('no figures yet (raw results in the JSON)');
  if (!Array.isArray(figures)) return only(figures.invalid, '**not run**');
  if (figures.length === 0) return only('no figures');
  return figures.map((f) => {
    const label = f.note ? `${f.name} — ${f.note}` : f.name;
    return `| ${cell(name)} | ${cell(label)} | ${cell(formatValue(f.value, f.unit))} | ${cell(baselineText(f))} | ${cell(goalText(f))} | ${resultText(f)} |`;
  });
}

/** The Markdown report: what ran where, then one row per figure of every suite. */
export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const t = tally(report);
  const lines = [
    `# Gatehouse benchmark report${report.quick ? ' (quick)' : ''}`,
    '',
    `${report.when} · Node ${report.node} · ${m.cpus} CPUs · ${formatNumber(m.memoryMiB)} MiB RAM · ` +
      `load average ${formatNumber(m.loadAverage1m)} at the start · ${formatNumber(report.seconds)} s`,
    '',
  ];
  if (report.quick)
    lines.push(
      '**Quick run**: small sizes, short rounds, slow suites skipped. For a developer’s check only; the goals are ' +
        'set for a full run (`npm run bench`).',
      '',
    );
  lines.push(
    `${t.figures} figures, ${t.withGoal} with a goal: **${t.met} met, ${t.notMet} not met**. The baseline is ` +
      'measured in the same run on the same machine; "→ n×" is the figure divided by its baseline.',
    '',
    '| suite | figure | value | baseline (same run) | goal | result |',
    '|---|---|---|---|---|---|',
  );
  for (const [name, outcome] of Object.entries(report.suites)) lines.push(...suiteRows(name, outcome));
  lines.push('');
  return lines.join('\n');
}
