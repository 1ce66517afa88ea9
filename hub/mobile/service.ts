// The mobile-key part of the access path. Over MQTT a reader publishes a credential with kind
// 'mobile': the value 'challenge' asks for a challenge (answered on door/{d}/challenge), any other
// value is a phone response and gets a decision. The HTTP routes (http.ts) call the same methods.
// Every decision is stored durably and announced on the bus like any other (door controllers unlock on it).
import type { Decision, EventBus, Presentation } from '../bus.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import type { IssuedChallenge, MobileVerdict, MobileVerifier } from './verifier.js';

/** Value of a `kind: "mobile"` credential message that asks for a challenge instead of presenting. */
export const CHALLENGE_REQUEST = 'challenge';

/** Publishes a hub message on `<base>/door/{door}/{channel}` (the broker's publishToDoor). */
export type PublishToDoor = (
  doorId: string,
  channel: 'challenge',
  payload: Record<string, unknown>,
  retain: boolean,
) => Promise<void>;

export interface MobileAccessOptions {
  store: Store;
  bus: EventBus;
  verifier: MobileVerifier;
  /** Needed for the MQTT flow only; without it, MQTT challenge requests are refused. */
  publishToDoor?: PublishToDoor;
  logger?: Logger;
}

export interface MobilePresentation {
  doorId: string;
  response: string;
  readerId: string;
  requestId?: string;
  deviceId?: string;
}

export class MobileAccess {
  readonly #o: MobileAccessOptions;

  constructor(options: MobileAccessOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    this.#o.bus.on(this, 'presented', (p) => {
      if (p.kind !== 'mobile') return;
      try {
        if (p.value === CHALLENGE_REQUEST) this.#answerChallengeRequest(p);
        else this.present({ doorId: p.doorId, response: p.value, readerId: p.readerId, ...ids(p) });
      } catch (err) {
        // Fail closed: the reader hears "no", the hub keeps running.
        this.#o.logger?.error({ err, door: p.doorId }, 'mobile presentation failed; denying');
        this.#o.bus.emit('decided', p, { granted: false, reason: 'invalid_request' });
      }
    });
  }

  async stop(): Promise<void> {
    this.#o.bus.removeAll(this);
  }

  /** A fresh challenge for a door (null for an unknown door). */
  challenge(doorId: string): IssuedChallenge | null {
    return this.#o.verifier.challenge(doorId);
  }

  /** Verify, record durably, announce. Returns the verdict (also emitted as bus `decided`). */
  present(input: MobilePresentation): MobileVerdict {
    const { store, bus, logger } = this.#o;
    const verdict = this.#o.verifier.verify(input.doorId, input.response);
    const doorKnown = store.doors.get(input.doorId) !== null;
    const event = store.events.appendDurable({
      type: 'decision',
      doorId: doorKnown ? input.doorId : null,
      personId: verdict.personId ?? null,
      credentialId: verdict.credentialId ?? null,
      data: {
        granted: verdict.granted,
        reason: verdict.reason,
        kind: 'mobile',
        reader: input.readerId,
        ...(input.deviceId ? { device: input.deviceId } : {}),
        ...(input.requestId ? { request: input.requestId } : {}),
        ...(verdict.detail ? { error: verdict.detail } : {}),
      },
    });
    logger?.info(
      {
        seq: event.seq,
        door: input.doorId,
        kind: 'mobile',
        granted: verdict.granted,
        reason: verdict.reason,
      },
      'decision',
    );
    const presentation: Presentation = {
      doorId: input.doorId,
      kind: 'mobile',
      // The response itself stays out of the bus: listeners only need to know a phone answered.
      value: '[mobile response]',
      readerId: input.readerId,
      ...ids(input),
    };
    const decision: Decision = {
      granted: verdict.granted,
      reason: verdict.reason,
      ...(verdict.unlockMs !== undefined ? { unlockMs: verdict.unlockMs } : {}),
      personId: verdict.personId ?? null,
      credentialId: verdict.credentialId ?? null,
    };
    bus.emit('decided', presentation, decision);
    return verdict;
  }

  #answerChallengeRequest(p: Presentation): void {
    const issued = this.challenge(p.doorId);
    const publish = this.#o.publishToDoor;
    if (!issued || !publish || p.requestId === undefined) {
      this.present({ doorId: p.doorId, response: '', readerId: p.readerId, ...ids(p) });
      return;
    }
    publish(
      p.doorId,
      'challenge',
      { id: p.requestId, challenge: issued.challenge, expiresAt: issued.expiresAt },
      false,
    ).catch((err: unknown) =>
      this.#o.logger?.warn({ err, door: p.doorId }, 'could not publish a mobile challenge'),
    );
  }
}

function ids(p: { requestId?: string; deviceId?: string }): { requestId?: string; deviceId?: string } {
  return {
    ...(p.requestId !== undefined ? { requestId: p.requestId } : {}),
    ...(p.deviceId !== undefined ? { deviceId: p.deviceId } : {}),
  };
}
