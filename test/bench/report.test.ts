// The benchmark report: goals judged on fixed figures and the Markdown table rendered from them, including
// suites that errored, were skipped, return no figures yet, or return figures that do not fit the format.
import { describe, expect, it } from 'vitest';
import {
  type BenchReport,
  type Figure,
  figuresOf,
  formatValue,
  goalMet,
  renderMarkdown,
  tally,
} from '../../bench/report.js';

const figure = (over: Partial<Figure>): Figure => ({ name: 'f', value: 1, unit: 'ms', ...over });

function report(suites: BenchReport['suites'], quick = false): BenchReport {
  return {
    when: '2026-12-02T18:00:00.000Z',
    node: 'v20.20.2',
    machine: { cpus: 2, memoryMiB: 24105, loadAverage1m: 1.5, platform: 'linux x64' },
    quick,
    only: null,
    seconds: 42,
    suites,
  };
}

/** The table row whose figure cell starts with `name`, split into its cells. */
function row(markdown: string, name: string): string[] {
  const line = markdown.split('\n').find((l) => l.split(' | ')[1]?.startsWith(name));
  if (!line) throw new Error(`no row for ${name} in\n${markdown}`);
  return line.split(' | ').map((c) => c.replace(/^\| |\|$/g, '').trim());
}

describe('goalMet', () => {
  it('compares the value with <= and >= goals', () => {
    expect(goalMet(figure({ value: 0.8, goal: { op: '<=', value: 1 } }))).toBe(true);
    expect(goalMet(figure({ value: 1, goal: { op: '<=', value: 1 } }))).toBe(true);
    expect(goalMet(figure({ value: 1.2, goal: { op: '<=', value: 1 } }))).toBe(false);
    expect(goalMet(figure({ value: 6000, unit: 'per s', goal: { op: '>=', value: 5000 } }))).toBe(true);
    expect(goalMet(figure({ value: 4999, unit: 'per s', goal: { op: '>=', value: 5000 } }))).toBe(false);
  });

  it('compares the ratio to the baseline when the goal is of the baseline', () => {
    const hub = (value: number) =>
      figure({
        value,
        baseline: { name: 'mosquitto echo p50', value: 0.5 },
        goal: { op: '<=', value: 2, ofBaseline: true, source: '#13' },
      });
    expect(goalMet(hub(0.9))).toBe(true);
    expect(goalMet(hub(1.0))).toBe(true);
    expect(goalMet(hub(1.1))).toBe(false);
  });

  it('is not met when the baseline is missing, zero or not a number, or the value was not measured', () => {
    const goal = { op: '<=' as const, value: 2, ofBaseline: true };
    expect(goalMet(figure({ value: 1, goal }))).toBe(false);
    expect(goalMet(figure({ value: 1, baseline: { name: 'b', value: 0 }, goal }))).toBe(false);
    expect(goalMet(figure({ value: 1, baseline: { name: 'b', value: Number.NaN }, goal }))).toBe(false);
    expect(goalMet(figure({ value: Number.NaN, goal: { op: '<=', value: 5 } }))).toBe(false);
  });

  it('is null without a goal', () => {
    expect(goalMet(figure({ baseline: { name: 'b', value: 1 } }))).toBeNull();
  });
});

describe('figuresOf', () => {
  it('reads figures back from JSON, an unmeasured value (NaN, null in JSON) as NaN', () => {
    const result = { figures: [figure({ value: Number.NaN, goal: { op: '<=', value: 1 } })], raw: 1 };
    const back = figuresOf(JSON.parse(JSON.stringify(result)) as Record<string, unknown>);
    expect(Array.isArray(back)).toBe(true);
    expect((back as Figure[])[0]!.value).toBeNaN();
    expect(goalMet((back as Figure[])[0]!)).toBe(false);
  });

  it('is null for a suite without figures and refuses figures that do not fit the format', () => {
    expect(figuresOf({ p99: 3 })).toBeNull();
    for (const bad of [
      'not an array',
      [{ name: 'x', value: '3', unit: 'ms' }],
      [{ name: 'x', value: 3, unit: 'furlongs' }],
      [{ name: '', value: 3, unit: 'ms' }],
      [{ name: 'x', value: 3, unit: 'ms', goal: { op: '<', value: 1 } }],
      [{ name: 'x', value: 3, unit: 'ms', baseline: { value: 1 } }],
      [{ name: 'x'.repeat(5000), value: 3, unit: 'ms' }],
    ]) {
      const read = figuresOf({ figures: bad });
      expect(read, JSON.stringify(bad).slice(0, 80)).toMatchObject({ invalid: expect.any(String) });
    }
  });
});

describe('renderMarkdown', () => {
  const suites: BenchReport['suites'] = {
    broker: {
      status: 'ran',
      seconds: 30,
      result: {
        figures: [
          figure({
            name: 'hub decision round trip p50, paced',
            value: 1.2,
            baseline: { name: 'mosquitto echo p50', value: 0.5 },
            goal: { op: '<=', value: 2, ofBaseline: true, source: '#13' },
          }),
          figure({
            name: 'aedes round trips, closed loop',
            value: 2400,
            unit: 'per s',
            baseline: { name: 'mosquitto', value: 3000 },
          }),
          figure({ name: 'requests lost', value: 0, unit: 'count', goal: { op: '<=', value: 0 } }),
        ],
        rounds: [],
      },
    },
    scale: {
      status: 'ran',
      seconds: 300,
      result: {
        figures: [
          figure({ name: 'idle RSS, 2M', value: 101.5, unit: 'MiB', goal: { op: '<=', value: 120 } }),
          figure({
            name: 'in-process decision p99, 2M',
            value: 1.7,
            goal: { op: '<=', value: 1, source: '#13' },
          }),
          figure({ name: 'seed time, 2M', value: 61.2, unit: 's' }),
        ],
      },
    },
    cloud: { status: 'error', seconds: 3, error: 'dev cloud did not start in 30 s' },
    ui: { status: 'skipped', reason: 'not in --quick: takes minutes' },
    sdcard: { status: 'ran', seconds: 200, result: { bytesPerDay: { at2000: 1 } } },
    odd: { status: 'ran', seconds: 1, result: { figures: [{ name: 'x', value: 'fast', unit: 'ms' }] } },
  };

  it('has one row per figure with its value, baseline and ratio, goal and result', () => {
    const md = renderMarkdown(report(suites));
    expect(md).toContain('| suite | figure | value | baseline (same run) | goal | result |');
    expect(row(md, 'hub decision round trip p50')).toEqual([
      'broker',
      'hub decision round trip p50, paced',
      '1.2 ms',
      'mosquitto echo p50: 0.5 ms → 2.4×',
      '≤ 2× baseline (#13)',
      '**not met**',
    ]);
    expect(row(md, 'aedes round trips')).toEqual([
      'broker',
      'aedes round trips, closed loop',
      '2,400 per s',
      'mosquitto: 3,000 per s → 0.8×',
      '—',
      '—',
    ]);
    expect(row(md, 'requests lost').slice(2)).toEqual(['0', '—', '≤ 0', 'met']);
    expect(row(md, 'idle RSS, 2M').slice(2)).toEqual(['101.5 MiB', '—', '≤ 120 MiB', 'met']);
    expect(row(md, 'in-process decision p99').slice(4)).toEqual(['≤ 1 ms (#13)', '**not met**']);
    expect(row(md, 'seed time').slice(2, 3)).toEqual(['61.2 s']);
  });

  it('names suites that errored, were skipped, have no figures yet or malformed ones', () => {
    const md = renderMarkdown(report(suites));
    expect(md).toMatch(/\| cloud \| \*error: dev cloud did not start in 30 s\* \|.*\*\*not run\*\*/);
    expect(md).toContain('| ui | *skipped: not in --quick: takes minutes* |');
    expect(md).toContain('| sdcard | *no figures yet (raw results in the JSON)* |');
    expect(md).toMatch(/\| odd \| \*figures do not match bench\/report\.ts.*\*\*not run\*\*/);
  });

  it('counts the goals met and not met, and marks a quick run', () => {
    const r = report(suites);
    expect(tally(r)).toEqual({ figures: 6, withGoal: 4, met: 2, notMet: 2 });
    expect(renderMarkdown(r)).toContain('**2 met, 2 not met**');
    expect(renderMarkdown(r)).not.toContain('(quick)');
    expect(renderMarkdown(report(suites, true))).toContain('# Gatehouse benchmark report (quick)');
    expect(renderMarkdown(report(suites, true))).toContain('**Quick run**');
  });

  it('keeps a hostile name inside its cell', () => {
    const md = renderMarkdown(
      report({
        x: {
          status: 'ran',
          seconds: 1,
          result: { figures: [figure({ name: 'a | b\n| c', note: 'line\r\nbreak' })] },
        },
        'y|z': { status: 'error', seconds: 1, error: 'boom\n| injected | row |' },
      }),
    );
    const rows = md.split('\n').filter((l) => l.startsWith('| x ') || l.startsWith('| y'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('a \\| b \\| c — line break');
    expect(rows[1]).toContain('| y\\|z | *error: boom \\| injected \\| row \\|* |');
  });
});

describe('formatValue', () => {
  it('rounds for a reader and keeps the unit', () => {
    expect(formatValue(0.48812, 'ms')).toBe('0.488 ms');
    expect(formatValue(13.74, 'ms')).toBe('13.7 ms');
    expect(formatValue(1126.4, 'ms')).toBe('1,126 ms');
    expect(formatValue(2.08, 'ratio')).toBe('2.08×');
    expect(formatValue(150000, 'bytes')).toBe('150,000 bytes');
    expect(formatValue(3, 'count')).toBe('3');
    expect(formatValue(Number.NaN, 'ms')).toBe('—');
  });
});
