// One door's state machine: unlock pulses, relock on close, forced/held-open alarms, REX, modes,
// fire release and tamper. The same for MQTT and wired doors; only the DoorIo differs.
import type { Logger } from 'pino';
import pino from 'pino';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { Summarizer } from '../budget.js';
import type { DoorStatus, EventBus } from '../bus.js';
import type { DoorMode, NewEvent } from '../domain.js';
import { type DoorClock, systemClock, type TimerHandle } from './clock.js';
import type { DoorIo, DoorSignal } from './io.js';

export const MIN_UNLOCK_MS = 1000;
export const MAX_UNLOCK_MS = 60_000;
/** Relays change a few times a minute at a busy door; more than this is a loop, summarised in the log. */
const RELAY_LINES_PER_MINUTE = 30;
/** A relay write that failed is retried this often until it succeeds or the lock state changes. */
export const LOCK_RETRY_MS = 1000;
/** One doorbell event per door in this time: a stuck button or a looping device rings once. */
export const DOORBELL_INTERVAL_MS = 2000;
/** Device events of a type the hub does not know, recorded per door and minute; the rest are counted. */
const OTHER_EVENTS_PER_MINUTE = 5;
/** An event type as the MQTT contract allows it (hub/broker/contract.ts); anything else is not a device's. */
const DEVICE_EVENT_TYPE = /^[a-z][a-z0-9_]{0,31}$/;

export const DoorSettingsSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  name: Type.String({ maxLength: 200 }),
  mode: Type.Union([Type.Literal('normal'), Type.Literal('lockdown'), Type.Literal('unlocked')]),
  failMode: Type.Union([Type.Literal('secure'), Type.Literal('safe')]),
  unlockMs: Type.Integer({ minimum: MIN_UNLOCK_MS, maximum: MAX_UNLOCK_MS }),
  heldOpenMs: Type.Integer({ minimum: 1000, maximum: 3_600_000 }),
});
/** The part of a door record the controller uses. */
export type DoorSettings = Static<typeof DoorSettingsSchema>;
const doorSettingsCheck = Compile(DoorSettingsSchema);

/** Validates a door record; the error names the field, e.g. "/unlockMs must be <= 60000". */
export function checkDoorSettings(
  value: unknown,
): { ok: true; door: DoorSettings } | { ok: false; error: string } {
  if (doorSettingsCheck.Check(value)) return { ok: true, door: value };
  const errors = [...doorSettingsCheck.Errors(value)].map((e) => `${e.instancePath || '/'} ${e.message}`);
  return { ok: false, error: `invalid door record: ${errors.join('; ')}` };
}

const DoorReportSchema = Type.Object({
  doorId: Type.String(),
  contact: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
  lock: Type.Optional(Type.Union([Type.Literal('locked'), Type.Literal('unlocked')])),
  tamper: Type.Optional(Type.Boolean()),
});
const doorReportCheck = Compile(DoorReportSchema);

const DoorInputSchema = Type.Object({
  doorId: Type.String(),
  type: Type.String({ maxLength: 64 }),
  data: Type.Optional(
    Type.Object({
      active: Type.Optional(Type.Boolean()),
      online: Type.Optional(Type.Boolean()),
    }),
  ),
});
const doorInputCheck = Compile(DoorInputSchema);

/** Who a grant is for; attached to the `door.opened` event that follows. */
export interface GrantedBy {
  personId?: string | null;
  credentialId?: string | null;
  /** 'remote' for a staff unlock from the UI/API/cloud. */
  source?: 'credential' | 'remote';
}

export interface DoorControllerOptions {
  door: DoorSettings;
  io: DoorIo;
  bus: EventBus;
  /** Where alarms and door events go (the composition writes them to the event log). */
  emitEvent: (event: NewEvent) => unknown;
  clock?: DoorClock;
  logger?: Logger;
  /** Adds to each published status (a wired door's readers). */
  decorateStatus?: (status: DoorStatus) => DoorStatus;
}

type OpenedBy = 'grant' | 'remote' | 'rex' | 'unlocked' | 'fire' | 'unknown';

interface Pulse {
  until: number;
  by: 'grant' | 'remote' | 'rex';
  personId: string | null;
  credentialId: string | null;
}

export class DoorController {
  readonly #io: DoorIo;
  readonly #bus: EventBus;
  readonly #emitEvent: (event: NewEvent) => unknown;
  readonly #clock: DoorClock;
  readonly #logger: Logger;
  readonly #relayLog: Summarizer;
  readonly #otherEvents: Summarizer;
  readonly #decorateStatus: ((status: DoorStatus) => DoorStatus) | undefined;
  #door: DoorSettings;
  /** When the last doorbell was recorded, and the presses folded into it since. */
  #doorbellAt = Number.NEGATIVE_INFINITY;
  #doorbellIgnored = 0;

  #mode: DoorMode;
  #fire = false;
  #tamper = false;
  #contact: DoorStatus['contact'] = 'unknown';
  #online: boolean;
  #reportedLock: DoorStatus['lock'] = 'unknown';

  #pulse: Pulse | null = null;
  #pulseTimer: TimerHandle | null = null;

  /** The current open: who let it happen, or 'forced'. Null while closed. */
  #openedBy: OpenedBy | 'forced' | null = null;
  #openedAt = 0;
  #heldTimer: TimerHandle | null = null;
  #heldAlarm = false;

  /** Last lock state asked of the io; null before start. */
  #commanded: boolean | null = null;
  /** The last unlock was held (no pulse length). */
  #commandedHeld = false;
  /** Lock state the io confirmed; null when unknown (before start or after a failed write). */
  #driven: boolean | null = null;
  #lockFault = false;
  #retryTimer: TimerHandle | null = null;
  #writes: Promise<void> = Promise.resolve();

  #running = false;
  /** Status is published once start has read every input, never half-initialised. */
  #ready = false;
  #lastStatusKey = '';

  constructor(options: DoorControllerOptions) {
    const checked = checkDoorSettings(options.door);
    if (!checked.ok) throw new Error(`door '${String(options.door?.id)}': ${checked.error}`);
    this.#door = { ...checked.door };
    this.#io = options.io;
    this.#bus = options.bus;
    this.#emitEvent = options.emitEvent;
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ door: checked.door.id });
    this.#relayLog = new Summarizer({
      perWindow: RELAY_LINES_PER_MINUTE,
      now: () => this.#clock.now(),
      onSuppressed: ({ suppressed }) =>
        this.#logger.warn({ suppressed }, `relay changed ...and ${suppressed} more in the last minute`),
    });
    this.#otherEvents = new Summarizer({
      perWindow: OTHER_EVENTS_PER_MINUTE,
      now: () => this.#clock.now(),
      onSuppressed: ({ suppressed, windowMs }) => this.#event('door.device_event', { suppressed, windowMs }),
    });
    this.#decorateStatus = options.decorateStatus;
    this.#mode = checked.door.mode;
    // Wired (and simulated) doors are as online as the hub; MQTT doors wait for their device's availability.
    this.#online = options.io.transport !== 'mqtt';
  }

  get id(): string {
    return this.#door.id;
  }

  get transport(): DoorIo['transport'] {
    return this.#io.transport;
  }

  /** The door record in use, with the current mode. */
  get settings(): DoorSettings {
    return { ...this.#door, mode: this.#mode };
  }

  get mode(): DoorMode {
    return this.#mode;
  }

  /** Fire release is active: the door is held open for people to get out. */
  get fireRelease(): boolean {
    return this.#fire;
  }

  /** Locks first (before any input is read), then applies inputs, then mode and fire. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#drive(false);
    for (const signal of this.#io.initial()) this.#onSignal(signal);
    await this.#io.start((signal) => this.#onSignal(signal));
    this.#applyLock();
    this.#ready = true;
    this.#publishStatus();
    this.#logger.info({ mode: this.#mode, transport: this.#io.transport }, 'door started');
  }

  /** Stops timers and relocks (unless fire release is active: people must still get out). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#ready = false;
    for (const timer of [this.#pulseTimer, this.#heldTimer, this.#retryTimer]) {
      if (timer !== null) this.#clock.clearTimeout(timer);
    }
    this.#pulseTimer = this.#heldTimer = this.#retryTimer = null;
    this.#pulse = null;
    if (!this.#fire && this.#driven !== false) await this.#drive(false, undefined, true);
    await this.#writes;
    this.#relayLog.flush(true);
    this.#otherEvents.flush(true);
    await this.#io.stop();
  }

  /**
   * Unlock for `ms` (default the door's unlockMs, clamped to 1–60 s). Relocks when the pulse ends or
   * as soon as the door closes after opening. A new grant extends the pulse. Refused in lockdown.
   */
  grant(ms?: number, by: GrantedBy = {}): boolean {
    try {
      if (!this.#running) return false;
      if (this.#mode === 'lockdown') {
        this.#logger.info('grant ignored: door is in lockdown');
        return false;
      }
      const source = by.source === 'remote' ? 'remote' : 'grant';
      this.#startPulse(source, this.#pulseMs(ms), by.personId ?? null, by.credentialId ?? null);
      return true;
    } catch (err) {
      this.#logger.error({ err }, 'grant failed');
      return false;
    }
  }

  /** normal: credentials decide; lockdown: locked, grants refused, REX still lets people out; unlocked: held open. */
  setMode(mode: DoorMode): void {
    try {
      if (mode === this.#mode) return;
      const from = this.#mode;
      this.#mode = mode;
      if (mode === 'lockdown') this.#cancelPulse();
      this.#event('door.mode_changed', { from, to: mode });
      this.#applyLock();
      this.#refreshHeld();
      this.#publishStatus();
    } catch (err) {
      this.#logger.error({ err }, 'mode change failed');
    }
  }

  /**
   * Name and timings change in place; the next pulse or held-open timer uses them. The mode is not
   * touched here (call setMode), and a new fail mode needs a new controller.
   */
  update(door: DoorSettings): void {
    const checked = checkDoorSettings(door);
    if (!checked.ok) throw new Error(`door '${this.#door.id}': ${checked.error}`);
    if (checked.door.id !== this.#door.id) throw new Error(`door '${this.#door.id}': id cannot change`);
    this.#door = { ...checked.door };
  }

  status(): DoorStatus {
    const lock: DoorStatus['lock'] =
      this.#io.transport === 'mqtt'
        ? this.#reportedLock
        : this.#driven === null
          ? 'unknown'
          : this.#driven
            ? 'unlocked'
            : 'locked';
    return {
      doorId: this.#door.id,
      contact: this.#contact,
      lock,
      mode: this.#mode,
      tamper: this.#tamper,
      online: this.#online,
    };
  }

  /** A bus `doorReport` from this door's device (MQTT doors). Returns false for a malformed report. */
  report(report: unknown): boolean {
    try {
      if (!doorReportCheck.Check(report)) {
        this.#logger.warn(
          { errors: [...doorReportCheck.Errors(report)].length },
          'malformed door report ignored',
        );
        return false;
      }
      // A message from the device proves it is connected.
      this.#onSignal({ kind: 'online', online: true });
      if (report.tamper !== undefined) this.#onSignal({ kind: 'tamper', active: report.tamper });
      if (report.lock !== undefined) this.#onSignal({ kind: 'lock', unlocked: report.lock === 'unlocked' });
      if (report.contact !== undefined) this.#onSignal({ kind: 'contact', open: report.contact === 'open' });
      return true;
    } catch (err) {
      this.#logger.error({ err }, 'door report failed');
      return false;
    }
  }

  /** A bus `doorInput` for this door (MQTT doors): rex, tamper, fire, doorbell, availability. */
  input(input: unknown): boolean {
    try {
      if (!doorInputCheck.Check(input)) {
        this.#logger.warn('malformed door input ignored');
        return false;
      }
      const signal = toSignal(input);
      if (signal === null) {
        // The hub's own types (a malformed availability, a sync ack) are not device events.
        if (input.type === 'availability' || input.type === 'sync_ack') return false;
        // A type of the device's own: kept in the log (its name only), a few a minute.
        if (this.#running && DEVICE_EVENT_TYPE.test(input.type) && this.#otherEvents.allow('other')) {
          this.#onSignal({ kind: 'online', online: true });
          this.#event('door.device_event', { event: input.type });
        }
        return false;
      }
      if (signal.kind !== 'online') this.#onSignal({ kind: 'online', online: true });
      this.#onSignal(signal);
      return true;
    } catch (err) {
      this.#logger.error({ err }, 'door input failed');
      return false;
    }
  }

  // ---- inputs

  #onSignal(signal: DoorSignal): void {
    if (!this.#running) return;
    try {
      switch (signal.kind) {
        case 'contact':
          this.#onContact(signal.open);
          break;
        case 'rex':
          this.#onRex();
          break;
        case 'doorbell':
          this.#onDoorbell();
          break;
        case 'tamper':
          if (signal.active === this.#tamper) break;
          this.#tamper = signal.active;
          this.#event(signal.active ? 'alarm.tamper' : 'alarm.tamper_cleared', {});
          break;
        case 'fire':
          if (signal.active === this.#fire) break;
          this.#fire = signal.active;
          this.#event(signal.active ? 'alarm.fire' : 'alarm.fire_cleared', { mode: this.#mode });
          this.#applyLock();
          this.#refreshHeld();
          break;
        case 'lock':
          this.#reportedLock = signal.unlocked ? 'unlocked' : 'locked';
          break;
        case 'online':
          if (signal.online === this.#online) break;
          this.#online = signal.online;
          this.#logger.info({ online: signal.online }, signal.online ? 'door online' : 'door offline');
          // A device that comes back may have rebooted and forgotten what it was told.
          if (signal.online) this.#applyLock(true);
          break;
      }
      this.#publishStatus();
    } catch (err) {
      this.#logger.error({ err, signal: signal.kind }, 'door input handler failed');
    }
  }

  #onContact(open: boolean): void {
    const previous = this.#contact;
    const now = open ? 'open' : 'closed';
    if (previous === now) return;
    this.#contact = now;
    if (previous === 'unknown') {
      // First reading (boot, device reconnect): no synthetic events, but watch an open door.
      if (open) {
        this.#openedBy = 'unknown';
        this.#openedAt = this.#clock.now();
        this.#refreshHeld();
      }
      return;
    }
    if (open) {
      this.#openedAt = this.#clock.now();
      const by = this.#authorisedBy();
      if (by === null) {
        this.#openedBy = 'forced';
        this.#logger.warn('door forced open');
        this.#event('alarm.forced_open', { mode: this.#mode });
        return;
      }
      this.#openedBy = by;
      const pulse = this.#pulse;
      const who = pulse && by === pulse.by ? pulse : null;
      this.#event('door.opened', { by }, who?.personId ?? null, who?.credentialId ?? null);
      this.#refreshHeld();
      return;
    }
    const openMs = this.#clock.now() - this.#openedAt;
    const wasForced = this.#openedBy === 'forced';
    this.#openedBy = null;
    this.#stopHeldTimer();
    if (wasForced) this.#event('alarm.forced_open_cleared', { openMs });
    else this.#event('door.closed', { openMs });
    if (this.#heldAlarm) {
      this.#heldAlarm = false;
      this.#event('alarm.held_open_cleared', { openMs });
    }
    // Relock on close: the pulse was for one passage.
    if (this.#pulse !== null) {
      this.#cancelPulse();
      this.#applyLock();
    }
  }

  #onRex(): void {
    this.#event('door.rex', { mode: this.#mode });
    // Life safety: REX works in every mode, lockdown included.
    this.#startPulse('rex', this.#door.unlockMs, null, null);
  }

  /** A ring is an event, not an alarm; presses within DOORBELL_INTERVAL_MS of it are the same ring. */
  #onDoorbell(): void {
    const now = this.#clock.now();
    if (now - this.#doorbellAt < DOORBELL_INTERVAL_MS) {
      this.#doorbellIgnored++;
      return;
    }
    this.#doorbellAt = now;
    const ignored = this.#doorbellIgnored;
    this.#doorbellIgnored = 0;
    this.#event('door.doorbell', ignored > 0 ? { ignored } : {});
  }

  #authorisedBy(): OpenedBy | null {
    if (this.#fire) return 'fire';
    if (this.#pulse !== null) return this.#pulse.by;
    if (this.#mode === 'unlocked') return 'unlocked';
    return null;
  }

  // ---- pulse and lock

  #pulseMs(ms: number | undefined): number {
    if (ms === undefined || !Number.isFinite(ms)) return this.#door.unlockMs;
    return Math.min(MAX_UNLOCK_MS, Math.max(MIN_UNLOCK_MS, Math.round(ms)));
  }

  #startPulse(by: Pulse['by'], ms: number, personId: string | null, credentialId: string | null): void {
    const until = this.#clock.now() + ms;
    const current = this.#pulse;
    if (current !== null && current.until >= until) {
      // Already unlocked for longer: keep the end, credit the latest person.
      this.#pulse = { ...current, by, personId, credentialId };
      return;
    }
    this.#pulse = { until, by, personId, credentialId };
    if (this.#pulseTimer !== null) this.#clock.clearTimeout(this.#pulseTimer);
    this.#pulseTimer = this.#clock.setTimeout(() => this.#endPulse(), ms);
    this.#applyLock(true);
    this.#publishStatus();
  }

  #endPulse(): void {
    try {
      this.#pulseTimer = null;
      this.#pulse = null;
      this.#applyLock();
      this.#publishStatus();
    } catch (err) {
      this.#logger.error({ err }, 'relock failed');
    }
  }

  #cancelPulse(): void {
    if (this.#pulseTimer !== null) this.#clock.clearTimeout(this.#pulseTimer);
    this.#pulseTimer = null;
    this.#pulse = null;
  }

  #wantUnlocked(): boolean {
    return this.#fire || this.#mode === 'unlocked' || this.#pulse !== null;
  }

  /** Drive the lock if the wanted state changed; `resend` repeats it to MQTT devices (new pulse length). */
  #applyLock(resend = false): void {
    if (!this.#running) return;
    const unlocked = this.#wantUnlocked();
    const held = this.#fire || this.#mode === 'unlocked';
    const pulseMs =
      unlocked && !held && this.#pulse ? Math.max(0, this.#pulse.until - this.#clock.now()) : undefined;
    const mqtt = this.#io.transport === 'mqtt';
    // A device told "unlock for 5 s" must hear again when the unlock becomes held (fire, keep-unlocked).
    const heldChanged = mqtt && unlocked && held !== this.#commandedHeld;
    if (unlocked === this.#commanded && !heldChanged && !(resend && mqtt)) return;
    this.#commandedHeld = unlocked && held;
    void this.#drive(unlocked, pulseMs);
  }

  /** One info line per relay change on a wired door; a flapping loop is summarised (invariant 7). */
  #logRelay(unlocked: boolean): void {
    if (!this.#relayLog.allow('relay')) return;
    this.#logger.info(
      {
        transport: this.#io.transport,
        lock: unlocked ? 'unlocked' : 'locked',
        fire: this.#fire,
        mode: this.#mode,
      },
      'relay changed',
    );
  }

  /** Writes are queued so the relay sees them in order; a failure is an alarm, never a throw. */
  #drive(unlocked: boolean, pulseMs?: number, stopping = false): Promise<void> {
    this.#commanded = unlocked;
    if (this.#retryTimer !== null) {
      this.#clock.clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    const write = this.#writes.then(async () => {
      try {
        await this.#io.driveLock(unlocked, pulseMs);
        if (this.#driven !== unlocked && this.#io.transport !== 'mqtt') this.#logRelay(unlocked);
        this.#driven = unlocked;
        if (this.#lockFault) {
          this.#lockFault = false;
          this.#event('alarm.lock_fault_cleared', { lock: unlocked ? 'unlocked' : 'locked' });
        }
      } catch (err) {
        this.#driven = null;
        this.#logger.error({ err, unlocked }, 'lock write failed');
        if (!this.#lockFault) {
          this.#lockFault = true;
          this.#event('alarm.lock_fault', {
            lock: unlocked ? 'unlocked' : 'locked',
            error: err instanceof Error ? err.message : String(err),
          });
        }
        if (this.#running && !stopping && this.#commanded === unlocked) this.#scheduleRetry();
      }
      if (!stopping) this.#publishStatus();
    });
    this.#writes = write;
    return write;
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== null) return;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = null;
      if (!this.#running || this.#commanded === null) return;
      const unlocked = this.#commanded;
      const pulseMs =
        unlocked && this.#pulse ? Math.max(0, this.#pulse.until - this.#clock.now()) : undefined;
      void this.#drive(unlocked, pulseMs);
    }, LOCK_RETRY_MS);
  }

  // ---- held open

  /** Held-open is watched after an authorised open, except while the door is meant to stand open. */
  #refreshHeld(): void {
    const watching =
      this.#contact === 'open' &&
      this.#openedBy !== null &&
      this.#openedBy !== 'forced' &&
      !this.#fire &&
      this.#mode !== 'unlocked';
    if (!watching) {
      this.#stopHeldTimer();
      return;
    }
    if (this.#heldTimer === null) this.#scheduleHeld();
  }

  #scheduleHeld(): void {
    this.#heldTimer = this.#clock.setTimeout(() => {
      this.#heldTimer = null;
      try {
        if (!this.#running || this.#contact !== 'open') return;
        this.#heldAlarm = true;
        this.#logger.warn('door held open');
        this.#event('alarm.held_open', { openMs: this.#clock.now() - this.#openedAt });
        this.#scheduleHeld();
      } catch (err) {
        this.#logger.error({ err }, 'held-open check failed');
      }
    }, this.#door.heldOpenMs);
  }

  #stopHeldTimer(): void {
    if (this.#heldTimer !== null) this.#clock.clearTimeout(this.#heldTimer);
    this.#heldTimer = null;
  }

  // ---- outputs

  #event(
    type: string,
    data: Record<string, unknown>,
    personId: string | null = null,
    credentialId: string | null = null,
  ): void {
    const event: NewEvent = {
      type,
      doorId: this.#door.id,
      personId,
      credentialId,
      data,
      ts: this.#clock.now(),
    };
    try {
      const result = this.#emitEvent(event);
      if (result instanceof Promise) {
        result.catch((err: unknown) => this.#logger.error({ err, type }, 'event could not be recorded'));
      }
    } catch (err) {
      this.#logger.error({ err, type }, 'event could not be recorded');
    }
  }

  #publishStatus(): void {
    if (!this.#running || !this.#ready) return;
    const status = this.#decorateStatus ? this.#decorateStatus(this.status()) : this.status();
    const key = JSON.stringify(status);
    if (key === this.#lastStatusKey) return;
    this.#lastStatusKey = key;
    try {
      this.#bus.emit('doorStatus', status);
    } catch (err) {
      this.#logger.error({ err }, 'doorStatus listener failed');
    }
  }
}

function toSignal(input: Static<typeof DoorInputSchema>): DoorSignal | null {
  const active = input.data?.active;
  switch (input.type) {
    case 'rex':
      return { kind: 'rex' };
    case 'doorbell':
      return { kind: 'doorbell' };
    case 'tamper':
      return { kind: 'tamper', active: active ?? true };
    case 'tamper_cleared':
      return { kind: 'tamper', active: false };
    // A bare "fire" means fire: when in doubt, release (life safety).
    case 'fire':
      return { kind: 'fire', active: active ?? true };
    case 'fire_cleared':
      return { kind: 'fire', active: false };
    case 'availability': {
      const online = input.data?.online;
      return typeof online === 'boolean' ? { kind: 'online', online } : null;
    }
    default:
      return null;
  }
}
