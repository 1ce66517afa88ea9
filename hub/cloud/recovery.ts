// After a hub swap the cloud may hold events the restored hub's log does not: those the old hub sent
// after its last backup. The hub asks for them back (EventsRequest) and checks every page here before
// anything is written: schema, seq order, each hash against its content, and the chain onto the hub's
// own log. Events the hub already holds with the same hash are skipped; from the first one that differs
// (or that the hub does not have) everything is staged on disk, then committed in one transaction
// (EventLog.commitRecovered). docs/cloud-protocol.md, "After a restore".
import { isPlainRecord } from '../store/errors.js';
import { eventHash, isStorableEventShape, type RecoveredEvent } from '../store/events.js';
import type { CloudPort } from './port.js';
import { checkWireEvent, describeProblems, MAX_EVENTS_PER_PAGE } from './proto.js';

/** Why a recovery stopped: `refused` pages are the cloud's fault (retry later); `foreign` logs never fit. */
export class RecoveryError extends Error {
  readonly kind: 'refused' | 'foreign';

  constructor(kind: 'refused' | 'foreign', message: string) {
    super(message);
    this.kind = kind;
    this.name = 'RecoveryError';
  }
}

export class EventRecovery {
  readonly fromSeq: number;
  readonly throughSeq: number;
  readonly #port: CloudPort;
  /** The seq the next event must have, and the hash it must link to. */
  #next: number;
  #prevHash: string;
  /** First seq where the cloud's log and the hub's part (null while they agree). */
  #divergeAt: number | null = null;
  #staged = 0;

  /** Asks for fromSeq..throughSeq; the hub's event fromSeq-1 is the anchor the first one must link to. */
  constructor(port: CloudPort, fromSeq: number, throughSeq: number) {
    const anchor = port.hashAt(fromSeq - 1);
    if (anchor === null) {
      throw new RecoveryError(
        'foreign',
        `this hub's log has no event ${fromSeq - 1} to check the cloud's events against`,
      );
    }
    this.#port = port;
    this.fromSeq = fromSeq;
    this.throughSeq = throughSeq;
    this.#next = fromSeq;
    this.#prevHash = anchor;
    port.recovery.clear();
  }

  get done(): boolean {
    return this.#next > this.throughSeq;
  }

  /** Where the staged run begins (null: the cloud holds nothing the hub lacks). */
  get divergeAt(): number | null {
    return this.#divergeAt;
  }

  get staged(): number {
    return this.#staged;
  }

  get nextSeq(): number {
    return this.#next;
  }

  /** Checks one page and stages what the hub lacks. Throws RecoveryError; nothing of a bad page is staged. */
  page(rawEvents: readonly unknown[]): void {
    if (rawEvents.length > MAX_EVENTS_PER_PAGE) {
      throw new RecoveryError(
        'refused',
        `a page of ${rawEvents.length} events (at most ${MAX_EVENTS_PER_PAGE})`,
      );
    }
    let next = this.#next;
    let prevHash = this.#prevHash;
    let divergeAt = this.#divergeAt;
    const stage: RecoveredEvent[] = [];
    for (const raw of rawEvents) {
      if (!checkWireEvent.Check(raw)) {
        throw new RecoveryError(
          'refused',
          `event after seq ${next - 1} is malformed: ${describeProblems(checkWireEvent.Errors(raw))}`,
        );
      }
      if (raw.seq !== next) {
        throw new RecoveryError(
          'refused',
          raw.seq < next
            ? `seq went backwards: ${raw.seq} after ${next - 1}`
            : `gap: expected seq ${next}, got ${raw.seq}`,
        );
      }
      if (raw.seq > this.throughSeq) {
        throw new RecoveryError('refused', `seq ${raw.seq} is beyond the requested ${this.throughSeq}`);
      }
      let data: unknown;
      try {
        data = JSON.parse(raw.data_json);
      } catch {
        data = null;
      }
      const event: RecoveredEvent = {
        seq: raw.seq,
        ts: raw.ts,
        type: raw.type,
        doorId: raw.door_id || null,
        personId: raw.person_id || null,
        credentialId: raw.credential_id || null,
        dataJson: raw.data_json,
        prevHash: raw.prev_hash,
        hash: raw.hash,
      };
      if (!isPlainRecord(data) || !isStorableEventShape(event)) {
        throw new RecoveryError('refused', `seq ${raw.seq} is not an event this hub could have written`);
      }
      if (eventHash(raw.prev_hash, { ...event, data }) !== raw.hash) {
        throw new RecoveryError('refused', `seq ${raw.seq}: hash does not match its content`);
      }
      if (raw.prev_hash !== prevHash) {
        if (raw.seq === this.fromSeq) {
          throw new RecoveryError(
            'foreign',
            `the cloud's seq ${raw.seq} does not link to this hub's seq ${raw.seq - 1}: the backup is of another hub, or the cloud holds another hub's log`,
          );
        }
        throw new RecoveryError('refused', `seq ${raw.seq} does not link to seq ${raw.seq - 1}`);
      }
      if (divergeAt === null) {
        const own = this.#port.hashAt(raw.seq);
        if (own !== raw.hash) {
          // Two logs of one hub share their start; differing from the very first event, they are two hubs.
          if (raw.seq === 1 && own !== null) {
            throw new RecoveryError(
              'foreign',
              "the cloud's log and this hub's have no event in common: the cloud holds another hub's log under this hub id",
            );
          }
          divergeAt = raw.seq;
        }
      }
      if (divergeAt !== null) stage.push(event);
      prevHash = raw.hash;
      next++;
    }
    if (stage.length > 0) this.#port.recovery.stage(stage);
    this.#next = next;
    this.#prevHash = prevHash;
    this.#divergeAt = divergeAt;
    this.#staged += stage.length;
  }
}
