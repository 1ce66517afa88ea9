// `gatehouse events verify` after pruning: it checks the chain from the anchor and says so (docs/data.md).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openHubStore } from '../../hub/open-store.js';
import { pruneEvents } from '../../hub/store/retention.js';
import { runIn } from '../cli/helpers.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-02T12:00:00Z');

let dir: string;
beforeEach(async () => {
  dir = tempDataDir();
  const opened = openHubStore(dir);
  try {
    for (let i = 0; i < 50; i++)
      opened.store.events.append({
        type: 'decision',
        ts: NOW - 500 * DAY + i * 60_000,
        doorId: null,
        personId: null,
        credentialId: null,
        data: { n: i },
      });
    opened.store.events.flush();
    await pruneEvents(opened.db, { keepDays: 400, maxEvents: 0, batchSize: 500, now: NOW, ackedSeq: 30 });
  } finally {
    opened.close();
  }
});
afterEach(() => removeDir(dir));

describe('events verify after pruning', () => {
  it('verifies from the anchor and says when older events were pruned', async () => {
    const res = await runIn(dir, ['events', 'verify']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('event log OK: 20 events, hash chain intact');
    expect(res.stdout).toContain('verified from seq 31 (older events pruned on 2026-12-02)');
  });

  it('still fails on a changed event after the anchor', async () => {
    const opened = openHubStore(dir);
    opened.db.prepare('UPDATE events SET ts = ts + 1 WHERE seq = 40').run();
    opened.close();
    const res = await runIn(dir, ['events', 'verify']);
    expect(res.code).toBe(3);
    expect(res.stdout).toContain('EVENT LOG BROKEN at seq 40');
  });
});

describe('the retention part in a running hub', () => {
  it('shows the oldest kept event and the anchor in the status and in `gatehouse status`', async () => {
    const hub = await startHub(dir, { events: { retention: { keepDays: 30 } } });
    try {
      const status = hub.status() as { eventLog: Record<string, unknown>; parts: Record<string, string> };
      expect(status.parts.retention).toBe('running');
      expect(status.eventLog).toMatchObject({
        enabled: true,
        keepDays: 30,
        oldestSeq: 31,
        prunedThroughSeq: 30,
      });
      const res = await runIn(dir, ['status']);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/events: oldest kept #31 of .*, pruned through #30 on .* \(keep 30 days\)/);
    } finally {
      await hub.stop();
    }
  });
});
