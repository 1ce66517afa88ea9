// Mobile decisions take the cards' path (hub/decisions.ts DecisionRecorder): the decision is in the
// decision journal before the answer leaves (bus `decided`, which the broker publishes and the door
// controllers act on), and SQLite commits right after; see test/store/commit-modes.test.ts for cards.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../hub/bus.js';
import { type Building, building, presentAt } from './helpers.js';

let b: Building;
let journal: string;

beforeEach(async () => {
  b = await building();
  journal = path.join(b.dataDir, 'events.journal');
  b.opened.store.events.useJournal(journal);
});
afterEach(async () => b.cleanup());

interface JournalLine {
  type: string;
  credentialId: string | null;
  data: Record<string, unknown>;
}

function journalLines(): JournalLine[] {
  return readFileSync(journal, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [, , type, , , credentialId, dataJson] = JSON.parse(line) as [
        string,
        number,
        string,
        string | null,
        string | null,
        string | null,
        string,
      ];
      return { type, credentialId, data: JSON.parse(dataJson) as Record<string, unknown> };
    });
}

/** At the moment each answer leaves: what the journal and the database hold. */
function watchAnswers(): Array<{ decision: Decision; journal: JournalLine[]; committed: number }> {
  const seen: Array<{ decision: Decision; journal: JournalLine[]; committed: number }> = [];
  b.bus.on(b, 'decided', (_p, decision) =>
    seen.push({
      decision,
      journal: journalLines(),
      committed: b.opened.store.events.list({ type: 'decision' }).length,
    }),
  );
  return seen;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('mobile decisions and the decision journal', () => {
  it('a mobile grant is in the journal file before the answer is published, and committed right after', async () => {
    const answers = watchAnswers();
    const { verdict } = presentAt(b, 'front');
    expect(verdict).toMatchObject({ granted: true, verified: true });
    expect(answers).toHaveLength(1);
    const [answer] = answers;
    expect(answer!.decision).toMatchObject({ granted: true, personId: 'anna', credentialId: b.credentialId });
    expect(answer!.journal).toEqual([
      {
        type: 'decision',
        credentialId: b.credentialId,
        data: expect.objectContaining({ granted: true, reason: 'granted', kind: 'mobile' }),
      },
    ]);
    // The answer did not wait for SQLite.
    expect(answer!.committed).toBe(0);

    await settle();
    const stored = b.opened.store.events.list({ type: 'decision' });
    expect(stored).toEqual([expect.objectContaining({ credentialId: b.credentialId, doorId: 'front' })]);
    expect(stored[0]!.data).toMatchObject({ granted: true, kind: 'mobile' });
    expect(statSync(journal).size).toBe(0); // committed: the journal starts over
    expect(b.opened.store.events.verify().ok).toBe(true);
  });

  it('a verified refusal and a refused forgery are journaled before their answer too', async () => {
    const answers = watchAnswers();
    b.opened.store.credentials.revoke(b.credentialId, 'lost phone');
    presentAt(b, 'front');
    b.mobile.present({
      doorId: 'front',
      response: 'not-a-response',
      readerId: 'front.test',
      requestId: 'r1',
    });
    expect(answers.map((a) => a.decision.reason)).toEqual(['revoked', 'invalid_request']);
    expect(answers[0]!.journal.map((l) => l.data.reason)).toEqual(['revoked']);
    expect(answers[1]!.journal.map((l) => l.data.reason)).toEqual(['revoked', 'invalid_request']);
    expect(answers[1]!.journal[1]!.data).toMatchObject({ request: 'r1', error: expect.any(String) });
    await settle();
    expect(b.opened.store.events.list({ type: 'decision' })).toHaveLength(2);
  });
});
