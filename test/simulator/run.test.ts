// One real simulated hour against the compiled hub (dist/: CI builds before the tests): a small building,
// every incident of the day, and the report. Timing is measured by the run itself, never asserted here.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SimulationReport } from '../../simulator/report.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SIMULATOR = path.join(ROOT, 'dist/simulator/main.js');
const out = mkdtempSync(path.join(tmpdir(), 'gatehouse-sim-test-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

function simulate(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SIMULATOR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the building simulator', () => {
  it('runs a morning hour with every incident: nothing lost, revoked credentials refused, a report with plots', async () => {
    const run = await simulate([
      '--doors',
      '3',
      '--residents',
      '40',
      '--hours',
      '1',
      '--start-hour',
      '7',
      '--speed',
      '240',
      '--passages-per-day',
      '20',
      '--out',
      out,
    ]);
    expect(run.stderr).toContain('sim ('); // the progress line
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as SimulationReport;
    expect(report.ok).toBe(true);
    expect(report.cloud.lost).toBe(0);
    expect(report.cloud.duplicated).toBe(0);
    expect(report.cloud.mismatched).toBe(0);
    expect(report.cloud.inHubLog).toBeGreaterThan(0);
    expect(report.cloud.deliveredToCloud).toBe(report.cloud.inHubLog);
    // The lost card and the logged-out phone were each tried three times after revocation.
    expect(report.decisions.revokedGranted).toBe(0);
    expect(report.decisions.revokedDenied).toBeGreaterThanOrEqual(6);
    expect(report.decisions.byResult.revoked).toBeGreaterThanOrEqual(6);
    expect(report.decisions.byResult.granted).toBeGreaterThan(10);
    expect(report.alarms['alarm.held_open']).toBeGreaterThan(0);
    expect(report.alarms['alarm.forced_open']).toBeGreaterThan(0);
    expect(Object.keys(report.latencyMsByDoorType).sort()).toEqual(['lan_mqtt_tls', 'mobile_lan_api']);
    expect(report.incidents.map((i) => i.name).sort()).toEqual([
      'cloud_outage_end',
      'cloud_outage_start',
      'dead_phone_daily_code',
      'flood',
      'forced_open',
      'held_open',
      'lost_card_revoked',
      'one_time_code',
      'phone_logged_out',
    ]);
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    for (const id of ['plot-latency', 'plot-backlog', 'plot-rate'])
      expect(html).toMatch(new RegExp(`<svg id="${id}"`));
    expect(html).toContain('<path d="M');
    // Self-contained: no scripts, nothing loaded from elsewhere.
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
  }, 240_000);

  it('refuses a hostile scenario file before starting anything', async () => {
    const file = path.join(out, 'hostile.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, JSON.stringify({ doors: -1, residents: '2000', rm: 'rf', speed: 1e308 }));
    const run = await simulate(['--scenario', file, '--out', path.join(out, 'never')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not a valid scenario');
    expect(run.stderr).toContain('unknown field "rm"');
    expect(run.stderr).toMatch(/doors/);
    expect(run.stderr).toMatch(/residents/);
  });
});
