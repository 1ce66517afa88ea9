// The simulator's options and scenario files: defaults, flags over the file, and hostile input refused
// with a message naming the field.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs, parseScenario, ScenarioError } from '../../simulator/options.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-sim-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).problems;
  }
  throw new Error('expected the scenario to be refused');
}

describe('simulator options', () => {
  it('has the documented defaults and takes flags over the scenario file', () => {
    expect(parseArgs([])).toMatchObject({ doors: 50, residents: 2000, hours: 24, speed: 600, startHour: 0 });
    const scenario = file('ok.json', JSON.stringify({ doors: 10, residents: 300, hours: 2 }));
    expect(parseArgs(['--scenario', scenario, '--doors', '4', '--out', 'x'])).toMatchObject({
      doors: 4,
      residents: 300,
      hours: 2,
      speed: 600,
      out: 'x',
    });
  });

  it.each([
    ['an unknown field', { doors: 3, exec: 'rm -rf /' }, /unknown field "exec"/],
    ['a string for a number', { residents: '2000' }, /residents/],
    ['a negative count', { doors: -5 }, /doors/],
    ['a fraction of a door', { doors: 2.5 }, /doors/],
    ['an absurd building', { residents: 10_000_000 }, /residents/],
    ['a zero speed', { speed: 0 }, /speed/],
    ['null', { hours: null }, /hours/],
    ['a nested object', { doors: { $gt: 1 } }, /doors/],
    ['a start hour past midnight', { startHour: 24 }, /startHour/],
    ['a share above one', { mobileShare: 2 }, /mobileShare/],
    ['an empty out dir', { out: '' }, /out/],
    ['a run lasting weeks', { hours: 168, speed: 1 }, /real hours/],
  ])('refuses %s', (_what, input, message) => {
    expect(problems(() => parseScenario(input, 'test')).join('\n')).toMatch(message);
  });

  it('refuses a prototype key, a top level that is not an object, and bad JSON', () => {
    expect(problems(() => parseScenario(JSON.parse('{"__proto__": {"doors": 1}}'), 't')).join()).toMatch(
      /__proto__/,
    );
    expect(problems(() => parseScenario([1, 2], 't')).join()).toMatch(/JSON object/);
    expect(problems(() => parseScenario('doors: 5', 't')).join()).toMatch(/JSON object/);
    expect(problems(() => parseArgs(['--scenario', file('bad.json', '{"doors": 5,')])).join()).toMatch(
      /not valid JSON/,
    );
    expect(problems(() => parseArgs(['--scenario', file('arr.json', '[]')])).join()).toMatch(/JSON object/);
    expect(problems(() => parseArgs(['--scenario', path.join(dir, 'missing.json')])).join()).toMatch(
      /cannot read/,
    );
    expect(
      problems(() => parseArgs(['--scenario', file('big.json', `{"x":"${'a'.repeat(70_000)}"}`)])).join(),
    ).toMatch(/at most 65536/);
  });

  it('refuses flags that are not plain numbers, unknown flags and missing values', () => {
    for (const value of ['0x10', '1e3', 'Infinity', 'NaN', '12abc', '']) {
      expect(problems(() => parseArgs(['--doors', value])).join()).toMatch(/--doors/);
    }
    expect(problems(() => parseArgs(['--rm', '1'])).join()).toMatch(/unknown option --rm/);
    expect(problems(() => parseArgs(['--doors'])).join()).toMatch(/needs a value/);
    expect(problems(() => parseArgs(['--doors', '--hours', '2'])).join()).toMatch(/needs a value/);
  });
});
