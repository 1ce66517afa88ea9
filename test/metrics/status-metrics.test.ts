// What /metrics and /api/v1/health make of status fields that other parts add when they are there (Node-RED,
// backups, the cloud link, a failed part): the real collector and assessment fed with status snapshots
// shaped like those parts' contracts, read back through the Prometheus text-format parser.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../hub/bus.js';
import { HubMetrics } from '../../hub/metrics/collector.js';
import { assessHealth } from '../../hub/metrics/health.js';

const RUNNING = { store: 'running', doors: 'running', broker: 'running', http: 'running', cloud: 'running' };
const BASE = {
  version: '0.1.0',
  uptimeS: 5,
  parts: RUNNING,
  doors: [],
  cloud: { enabled: false, state: 'disabled' },
};

async function render(status: Record<string, unknown>) {
  const metrics = new HubMetrics({
    bus: new EventBus(),
    status: () => status,
    health: () => assessHealth(status, { state: 'ok' }),
    isDoor: () => true,
    processMetrics: false,
  });
  const families = parsePrometheusTextFormat(await metrics.render());
  metrics.stop();
  const get = (name: string, labels: Record<string, string> = {}) =>
    families
      .find((f) => f.name === name)
      ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;
  return { families, get, metrics };
}

describe('status-derived metrics', () => {
  it('shows Node-RED state one-hot, its RSS and restarts while the hub reports it', async () => {
    const { get } = await render({
      ...BASE,
      nodeRed: { state: 'backoff', pid: null, port: null, rssBytes: null, restarts: 3, heapLimitMb: 256 },
    });
    expect(get('gatehouse_nodered_state', { state: 'backoff' })).toBe('1');
    expect(get('gatehouse_nodered_state', { state: 'running' })).toBe('0');
    expect(get('gatehouse_nodered_rss_bytes')).toBe('0');
    expect(get('gatehouse_nodered_restarts')).toBe('3');
    const running = await render({
      ...BASE,
      nodeRed: { state: 'running', rssBytes: 81_000_000, restarts: 0 },
    });
    expect(running.get('gatehouse_nodered_rss_bytes')).toBe('81000000');
  });

  it('shows the age of the last good backup, +Inf before the first, and overdue', async () => {
    const at = Date.now() - 3_600_000;
    const { get } = await render({
      ...BASE,
      backups: { enabled: true, lastSuccess: { at, file: 'x', bytes: 1 }, overdue: false },
    });
    expect(Number(get('gatehouse_backup_last_success_age_seconds'))).toBeGreaterThanOrEqual(3600);
    expect(Number(get('gatehouse_backup_last_success_age_seconds'))).toBeLessThan(3660);
    expect(get('gatehouse_backup_overdue')).toBe('0');
    const never = await render({ ...BASE, backups: { enabled: true, lastSuccess: null, overdue: true } });
    expect(never.get('gatehouse_backup_last_success_age_seconds')).toBe('+Inf');
    expect(never.get('gatehouse_backup_overdue')).toBe('1');
  });

  it('drops those metrics again when the part stops reporting', async () => {
    const status: Record<string, unknown> = {
      ...BASE,
      nodeRed: { state: 'running' },
      backups: { enabled: true },
    };
    const metrics = new HubMetrics({
      bus: new EventBus(),
      status: () => status,
      health: () => assessHealth(status, { state: 'ok' }),
      isDoor: () => true,
      processMetrics: false,
    });
    expect(await metrics.render()).toMatch(/gatehouse_nodered_state/);
    delete status.nodeRed;
    delete status.backups;
    const text = await metrics.render();
    expect(text).not.toMatch(/gatehouse_nodered_|gatehouse_backup_/);
    metrics.stop();
  });

  it('shows the cloud backlog and the age of the oldest unsent event while the cloud is enabled', async () => {
    const { get } = await render({
      ...BASE,
      cloud: { enabled: true, state: 'waiting', backlog: 1234, oldestUnsentAt: Date.now() - 600_000 },
    });
    expect(get('gatehouse_cloud_backlog_events')).toBe('1234');
    expect(Number(get('gatehouse_cloud_oldest_unsent_age_seconds'))).toBeGreaterThanOrEqual(600);
    expect(get('gatehouse_cloud_link_state', { state: 'waiting' })).toBe('1');
    expect(get('gatehouse_health_check', { check: 'cloud' })).toBe('1');
  });
});

describe('health assessment', () => {
  it('fails when any part failed, even one off the access path', () => {
    const report = assessHealth({ ...BASE, parts: { ...RUNNING, cloud: 'failed' } }, { state: 'ok' });
    expect(report.status).toBe('failing');
    expect(report.problems).toContain('part cloud failed');
  });

  it('fails when a part on the access path is not running; degraded while it starts', () => {
    expect(
      assessHealth({ ...BASE, parts: { ...RUNNING, broker: 'stopped' } }, { state: 'ok' }),
    ).toMatchObject({
      status: 'failing',
      checks: { broker: 'failing' },
    });
    expect(assessHealth({ ...BASE, parts: { ...RUNNING, http: 'starting' } }, { state: 'ok' }).status).toBe(
      'degraded',
    );
  });

  it('reports cloud and Node-RED only when enabled, and never worse than degraded', () => {
    const off = assessHealth(BASE, { state: 'ok' });
    expect(off.checks).not.toHaveProperty('cloud');
    expect(off.checks).not.toHaveProperty('nodeRed');
    const down = assessHealth(
      { ...BASE, cloud: { enabled: true, state: 'waiting' }, nodeRed: { state: 'unresponsive' } },
      { state: 'ok' },
    );
    expect(down).toMatchObject({ status: 'degraded', checks: { cloud: 'degraded', nodeRed: 'degraded' } });
    const up = assessHealth(
      { ...BASE, cloud: { enabled: true, state: 'connected' }, nodeRed: { state: 'running' } },
      { state: 'ok' },
    );
    expect(up).toMatchObject({ status: 'ok', checks: { cloud: 'ok', nodeRed: 'ok' } });
    expect(
      assessHealth({ ...BASE, nodeRed: { state: 'disabled' } }, { state: 'ok' }).checks,
    ).not.toHaveProperty('nodeRed');
  });

  it('is degraded when the disk is nearly full, failing when the store probe fails', () => {
    expect(assessHealth({ ...BASE, disk: { low: true } }, { state: 'ok' }).checks.store).toBe('degraded');
    const failing = assessHealth(BASE, { state: 'failing', problem: 'the database cannot be read' });
    expect(failing).toMatchObject({ status: 'failing', problems: ['store: the database cannot be read'] });
  });
});
