// The record the event-log pruning leaves behind (hub/store/retention.ts, docs/data.md): the seq and hash
// of the last event it deleted. Each hash covers the one before it, so the chain from the anchor on still
// proves that nothing kept was changed; verifyEventChain starts there.
import type { Database } from 'better-sqlite3';

/** kv key of the anchor; written in the same transaction as each pruning batch. */
export const PRUNE_ANCHOR_KEY = 'events.prune.anchor';

export interface PruneAnchor {
  /** The last pruned event: the oldest kept event is seq + 1 and links to `hash`. */
  seq: number;
  hash: string;
  /** Its time (epoch ms). */
  ts: number;
  /** When the pruning pass that deleted it ran (epoch ms). */
  prunedAt: number;
}

const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** The anchor, or null when nothing was ever pruned. A damaged record throws: it is not "nothing pruned". */
export function readPruneAnchor(db: Database): PruneAnchor | null {
  const text = db.prepare('SELECT value FROM kv WHERE key = ?').pluck().get(PRUNE_ANCHOR_KEY) as
    | string
    | undefined;
  if (text === undefined) return null;
  const anchor = parsePruneAnchor(text);
  if (anchor === null) throw new Error(`the event-log prune anchor (kv ${PRUNE_ANCHOR_KEY}) is damaged`);
  return anchor;
}

export function parsePruneAnchor(text: string): PruneAnchor | null {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (
      Number.isSafeInteger(v.seq) &&
      (v.seq as number) > 0 &&
      typeof v.hash === 'string' &&
      HASH_PATTERN.test(v.hash) &&
      Number.isSafeInteger(v.ts) &&
      Number.isSafeInteger(v.prunedAt)
    ) {
      return { seq: v.seq as number, hash: v.hash, ts: v.ts as number, prunedAt: v.prunedAt as number };
    }
  } catch {
    // not JSON
  }
  return null;
}
