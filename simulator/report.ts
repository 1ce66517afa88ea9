// The run's report: report.json (everything) and report.html, one self-contained page (inline SVG, no
// scripts, nothing fetched) a property manager can open from a USB stick.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Delivery } from './cloud.js';
import type { FloodResult } from './doors.js';
import type { BucketRow } from './metrics.js';
import type { Scenario } from './options.js';
import type { Incident } from './traffic.js';

export interface Check {
  name: string;
  ok: boolean;
  value: string;
}

export interface SimulationReport {
  startedAt: string;
  finishedAt: string;
  node: string;
  scenario: Scenario;
  decisions: {
    total: number;
    granted: number;
    byResult: Record<string, number>;
    unexpectedDenials: Record<string, number>;
    revokedGranted: number;
    revokedDenied: number;
    wrongGrants: number;
    maxInFlight: number;
  };
  sent: Record<string, number>;
  latencyMsByDoorType: Record<string, { n: number; p50: number; p90: number; p99: number; max: number }>;
  latencyMsByCredential: Record<string, { n: number; p50: number; p90: number; p99: number; max: number }>;
  alarms: Record<string, number>;
  cloud: Delivery & { maxBacklog: number; drainSecondsAfterDay: number };
  flood: FloodResult | null;
  incidents: Array<{ name: string; simSeconds: number; clock: string; did: string }>;
  hub: { peakRssMiB: number; shutdownMs: number | null; errorLogLines: number };
  /** How late the simulator's own timers ran: when high, part of the measured latency is the simulator's. */
  simulator: { eventLoopDelayMs: { p99: number; max: number } };
  timeline: { bucketSeconds: number; startHour: number; rows: BucketRow[] };
  incidentMarks: Incident[];
  checks: Check[];
  ok: boolean;
}

export function writeReport(dir: string, report: SimulationReport): void {
  writeFileSync(path.join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(dir, 'report.html'), renderHtml(report));
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

interface Series {
  name: string;
  color: string;
  points: Array<[number, number | null]>;
}

const WIDTH = 900;
const HEIGHT = 260;
const PAD = { left: 60, right: 20, top: 20, bottom: 36 };

function hhmm(secondOfDay: number): string {
  const s = ((Math.round(secondOfDay) % 86_400) + 86_400) % 86_400;
  return `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
}

/** A line plot over simulated time; gaps (null) break the line. */
export function svgPlot(options: {
  id: string;
  title: string;
  unit: string;
  span: number;
  dayStart: number;
  series: Series[];
  marks: Incident[];
  shade?: [number, number];
}): string {
  const { span, dayStart } = options;
  const values = options.series.flatMap((s) =>
    s.points.map(([, v]) => v).filter((v): v is number => v !== null),
  );
  const top = Math.max(1, ...values) * 1.1;
  const x = (t: number) => PAD.left + (t / span) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const parts: string[] = [];
  parts.push(
    `<svg id="${options.id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(options.title)}">`,
  );
  parts.push(`<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`);
  if (options.shade) {
    const [a, b] = options.shade;
    parts.push(
      `<rect x="${x(a).toFixed(1)}" y="${PAD.top}" width="${Math.max(1, x(b) - x(a)).toFixed(1)}" height="${HEIGHT - PAD.top - PAD.bottom}" fill="#fde2e2"><title>cloud outage</title></rect>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = (top / 4) * i;
    parts.push(
      `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${v < 10 ? v.toFixed(1) : Math.round(v)}</text>`,
    );
  }
  const ticks = 8;
  for (let i = 0; i <= ticks; i++) {
    const t = (span / ticks) * i;
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" font-size="11" text-anchor="middle">${hhmm(dayStart + t)}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${HEIGHT / 2}" font-size="11" transform="rotate(-90 14 ${HEIGHT / 2})" text-anchor="middle">${escapeHtml(options.unit)}</text>`,
    `<text x="${WIDTH / 2}" y="${HEIGHT - 4}" font-size="11" text-anchor="middle">simulated time</text>`,
  );
  for (const mark of options.marks) {
    parts.push(
      `<line x1="${x(mark.at).toFixed(1)}" x2="${x(mark.at).toFixed(1)}" y1="${PAD.top}" y2="${HEIGHT - PAD.bottom}" stroke="#bbb" stroke-dasharray="3 3"><title>${escapeHtml(mark.name)}</title></line>`,
    );
  }
  options.series.forEach((series, n) => {
    let d = '';
    let pen = false;
    const dots: string[] = [];
    for (const [t, v] of series.points) {
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)} ${y(v).toFixed(1)} `;
      // A dot too, so a bucket alone between empty ones (a quiet night) still shows.
      dots.push(`<circle cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="1.6"/>`);
      pen = true;
    }
    parts.push(`<path d="${d.trim()}" fill="none" stroke="${series.color}" stroke-width="1.5"/>`);
    parts.push(`<g fill="${series.color}">${dots.join('')}</g>`);
    parts.push(
      `<rect x="${PAD.left + 10 + n * 120}" y="6" width="10" height="10" fill="${series.color}"/>`,
      `<text x="${PAD.left + 24 + n * 120}" y="15" font-size="11">${escapeHtml(series.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function table(rows: Array<Array<string | number>>, head: string[]): string {
  const cell = (v: string | number) => `<td>${escapeHtml(String(v))}</td>`;
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map(cell).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function renderHtml(report: SimulationReport): string {
  const span = report.scenario.hours * 3600;
  const dayStart = report.timeline.startHour * 3600;
  const rows = report.timeline.rows;
  const half = report.timeline.bucketSeconds / 2;
  const at = (pick: (r: BucketRow) => number | null): Array<[number, number | null]> =>
    rows.map((r) => [r.t + half, pick(r)]);
  const outageStart = report.incidentMarks.find((m) => m.name === 'cloud_outage_start')?.at;
  const outageEnd = report.incidentMarks.find((m) => m.name === 'cloud_outage_end')?.at;
  const shade: [number, number] | undefined =
    outageStart !== undefined && outageEnd !== undefined ? [outageStart, outageEnd] : undefined;
  const common = { span, dayStart, marks: report.incidentMarks, ...(shade ? { shade } : {}) };
  const latencyPlot = svgPlot({
    id: 'plot-latency',
    title: 'Decision latency over simulated time',
    unit: 'ms',
    series: [
      { name: 'p50', color: '#2b7bb9', points: at((r) => r.p50) },
      { name: 'p99', color: '#d9822b', points: at((r) => r.p99) },
    ],
    ...common,
  });
  const backlogPlot = svgPlot({
    id: 'plot-backlog',
    title: 'Cloud backlog over simulated time',
    unit: 'events not yet in the cloud',
    series: [{ name: 'backlog', color: '#c23030', points: at((r) => r.backlog) }],
    ...common,
  });
  const perMinute = 60 / report.timeline.bucketSeconds;
  const ratePlot = svgPlot({
    id: 'plot-rate',
    title: 'Decisions per simulated minute',
    unit: 'decisions / sim. minute',
    series: [
      { name: 'decisions', color: '#444', points: at((r) => r.decisions * perMinute) },
      { name: 'granted', color: '#0f9960', points: at((r) => r.granted * perMinute) },
    ],
    ...common,
  });
  const latencyRows = (group: SimulationReport['latencyMsByDoorType']) =>
    Object.entries(group).map(([k, s]) => [k, s.n, s.p50, s.p90, s.p99, s.max]);
  const c = report.cloud;
  const s = report.scenario;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse building simulation ${escapeHtml(report.startedAt)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:960px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
.ok{color:#0a7d3b;font-weight:bold}.fail{color:#c23030;font-weight:bold}figure{margin:12px 0}figcaption{font-size:13px;color:#555}
</style></head><body>
<h1>Building simulation: <span class="${report.ok ? 'ok' : 'fail'}">${report.ok ? 'PASS' : 'FAIL'}</span></h1>
<p>${s.doors} doors, ${s.residents} residents, ${s.hours} simulated hours from ${hhmm(dayStart)} at ${s.speed}× (seed ${s.seed}).
Started ${escapeHtml(report.startedAt)}, finished ${escapeHtml(report.finishedAt)}, Node ${escapeHtml(report.node)}.
Times on the plots are simulated; the hub ran on real time.</p>
<h2>Checks</h2>
${table(
  report.checks.map((ch) => [ch.ok ? 'ok' : 'FAIL', ch.name, ch.value]),
  ['', 'check', 'measured'],
)}
<h2>Decisions</h2>
<p>${report.decisions.total} decisions, ${report.decisions.granted} granted; at most ${report.decisions.maxInFlight} in flight.</p>
${table(Object.entries(report.decisions.byResult), ['result', 'count'])}
<p>Valid credentials refused: ${escapeHtml(JSON.stringify(report.decisions.unexpectedDenials))}.
Revoked credentials presented after revocation: ${report.decisions.revokedDenied} denied, ${report.decisions.revokedGranted} granted.</p>
<h2>Latency (ms, presentation to answer)</h2>
${table(latencyRows(report.latencyMsByDoorType), ['door type', 'n', 'p50', 'p90', 'p99', 'max'])}
${table(latencyRows(report.latencyMsByCredential), ['credential', 'n', 'p50', 'p90', 'p99', 'max'])}
<figure>${latencyPlot}<figcaption>Decision latency per ${Math.round(report.timeline.bucketSeconds)} simulated seconds (dashed: incidents; shaded: cloud outage).</figcaption></figure>
<figure>${ratePlot}<figcaption>Decisions per simulated minute: morning and evening peaks.</figcaption></figure>
<h2>Cloud</h2>
<p>${c.inHubLog} events in the hub log, ${c.deliveredToCloud} delivered to the development cloud; lost ${c.lost}, duplicated ${c.duplicated}, mismatched ${c.mismatched}.
Largest backlog ${c.maxBacklog} events; drained ${c.drainSecondsAfterDay} s (real) after the day ended. Hub event chain ${c.chainIntact ? 'intact' : 'BROKEN'}.</p>
<figure>${backlogPlot}<figcaption>Events the hub holds that the cloud has not acknowledged.</figcaption></figure>
<h2>Alarms</h2>
${table(Object.entries(report.alarms), ['alarm', 'raised'])}
<h2>Incidents</h2>
${table(
  [...report.incidents].sort((a, b) => a.simSeconds - b.simSeconds).map((i) => [i.clock, i.name, i.did]),
  ['sim. time', 'incident', 'what happened'],
)}
<h2>Hub process</h2>
<p>Peak RSS ${report.hub.peakRssMiB} MiB, shutdown ${report.hub.shutdownMs ?? 'killed'} ms, error log lines ${report.hub.errorLogLines}.
The simulator's own event loop ran late by up to ${report.simulator.eventLoopDelayMs.max} ms (p99 ${report.simulator.eventLoopDelayMs.p99} ms): a latency spike of that size may be the simulator's, not the hub's.</p>
</body></html>
`;
}
