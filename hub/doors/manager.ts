// Builds one DoorController per door record, routes bus traffic to them by door id, and follows
// store changes (reload) without disturbing doors that did not change.
import type { Logger } from 'pino';
import pino from 'pino';
import type { Decision, DoorStatus, EventBus, Presentation } from '../bus.js';
import type { Door, DoorMode, NewEvent } from '../domain.js';
import type { DoorClock } from './clock.js';
import { checkDoorSettings, DoorController, type DoorSettings } from './controller.js';
import { type DoorIo, MqttDoorIo } from './io.js';
import { DevicePresence, type OpenOfflineAlarm } from './presence.js';

/** Builds the I/O of a door with transport 'wired' or 'sim' (GPIO adapters or a SimDoor). */
export type WiredIoFactory = (door: Door) => DoorIo | Promise<DoorIo>;

export interface DoorManagerOptions {
  doors: readonly Door[];
  bus: EventBus;
  emitEvent: (event: NewEvent) => unknown;
  /** Needed for wired and sim doors; without it those doors are reported and skipped. */
  wiredIo?: WiredIoFactory;
  clock?: DoorClock;
  logger?: Logger;
  /** A LAN door controller away this long raises alarm.door_offline (default 10 s). */
  offlineGraceMs?: number;
  /** Offline alarms from before this start that are still open (their device's return clears them). */
  openOfflineAlarms?: () => readonly OpenOfflineAlarm[];
  /** The provisioned LAN door controllers and their doors, read at start (presence.expect). */
  controllers?: () => ReadonlyArray<{ id: string; doors: readonly string[] }>;
  /** How long after the start a controller has to come back before its doors raise door_offline. */
  backAfterStartMs?: number;
  /** Adds to every status a door publishes (a wired door's readers), so all doorStatus messages agree. */
  decorateStatus?: (status: DoorStatus) => DoorStatus;
}

export type DoorCommandResult =
  | { ok: true }
  | { ok: false; code: 'unknown_door' | 'lockdown' | 'invalid'; error: string };

const MODES: readonly DoorMode[] = ['normal', 'lockdown', 'unlocked'];
const TRANSPORTS: readonly Door['transport'][] = ['mqtt', 'wired', 'sim'];

interface Entry {
  door: Door;
  controller: DoorController;
}

export class DoorManager {
  readonly #options: DoorManagerOptions;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  #doors: readonly Door[];
  #running = false;
  #reloading: Promise<void> = Promise.resolve();
  readonly #presence: DevicePresence;

  constructor(options: DoorManagerOptions) {
    this.#options = options;
    this.#doors = options.doors;
    // Named by the composition ({ part: 'doors' }); each controller adds its door.
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#presence = new DevicePresence({
      emitEvent: options.emitEvent,
      isLanDoor: (doorId) => this.#entries.get(doorId)?.controller.transport === 'mqtt',
      ...(options.offlineGraceMs !== undefined ? { graceMs: options.offlineGraceMs } : {}),
      ...(options.backAfterStartMs !== undefined ? { backAfterStartMs: options.backAfterStartMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      logger: this.#logger,
    });
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const { bus } = this.#options;
    bus.on(this, 'decided', (p, d) => this.#onDecided(p, d));
    bus.on(this, 'doorReport', (r) => this.#route(r, (c) => c.report(r)));
    bus.on(this, 'doorInput', (r) => {
      this.#route(r, (c) => c.input(r));
      this.#followDevice(r);
    });
    await this.#apply(this.#doors);
    try {
      this.#presence.resume(this.#options.openOfflineAlarms?.() ?? []);
      this.#presence.expect(this.#options.controllers?.() ?? []);
    } catch (err) {
      this.#logger.error({ err }, 'could not read the open door_offline alarms or the controllers');
    }
    this.#logger.info({ doors: this.#entries.size }, 'door manager started');
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#options.bus.removeAll(this);
    this.#presence.stop();
    await this.#reloading;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((e) => this.#stopController(e.controller)));
  }

  get(doorId: string): DoorController | undefined {
    return this.#entries.get(doorId)?.controller;
  }

  status(): DoorStatus[] {
    return [...this.#entries.values()].map((e) => e.controller.status());
  }

  /**
   * Runtime mode change (UI, cloud, integration request). Persist it in the store as well: the next
   * reload applies the stored mode.
   */
  setMode(doorId: string, mode: unknown): DoorCommandResult {
    if (typeof mode !== 'string' || !MODES.includes(mode as DoorMode)) {
      return { ok: false, code: 'invalid', error: `mode must be one of ${MODES.join(', ')}` };
    }
    const controller = this.#entries.get(doorId)?.controller;
    if (!controller) return { ok: false, code: 'unknown_door', error: `unknown door '${doorId}'` };
    controller.setMode(mode as DoorMode);
    return { ok: true };
  }

  /** Staff remote unlock for `ms` (default: the door's unlockMs; clamped to 1–60 s). Refused in lockdown. */
  unlock(doorId: string, ms?: unknown): DoorCommandResult {
    if (ms !== undefined && (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)) {
      return { ok: false, code: 'invalid', error: 'ms must be a positive number of milliseconds' };
    }
    const controller = this.#entries.get(doorId)?.controller;
    if (!controller) return { ok: false, code: 'unknown_door', error: `unknown door '${doorId}'` };
    if (!controller.grant(ms, { source: 'remote' })) {
      return { ok: false, code: 'lockdown', error: `door '${doorId}' is in lockdown` };
    }
    return { ok: true };
  }

  /** The doors changed in the store: add, remove and update controllers. Unchanged doors are not touched. */
  reload(doors: readonly Door[]): Promise<void> {
    this.#doors = doors;
    const next = this.#reloading.then(() => (this.#running ? this.#apply(doors) : undefined));
    this.#reloading = next.catch((err: unknown) => this.#logger.error({ err }, 'door reload failed'));
    return this.#reloading;
  }

  async #apply(doors: readonly Door[]): Promise<void> {
    const wanted = new Map<string, Door>();
    for (const door of doors) {
      if (wanted.has(door.id)) {
        this.#configError(door.id, `duplicate door id '${door.id}'`);
        continue;
      }
      wanted.set(door.id, door);
    }
    const work: Promise<void>[] = [];
    for (const [id, entry] of this.#entries) {
      if (!wanted.has(id)) {
        this.#entries.delete(id);
        work.push(this.#stopController(entry.controller));
      }
    }
    for (const door of wanted.values()) work.push(this.#applyOne(door));
    await Promise.all(work);
  }

  async #applyOne(door: Door): Promise<void> {
    const entry = this.#entries.get(door.id);
    const checked = checkDoorSettings(door);
    const transportOk = TRANSPORTS.includes(door.transport);
    if (!checked.ok || !transportOk) {
      const error = checked.ok
        ? `invalid door record: unknown transport '${String(door.transport)}'`
        : checked.error;
      this.#configError(door.id, entry ? `${error} (keeping the previous settings)` : error);
      return;
    }
    if (entry && entry.door.transport === door.transport && entry.door.failMode === door.failMode) {
      if (settingsChanged(entry.door, door)) entry.controller.update(checked.door);
      // The store is the truth for the mode: a lockdown set by another process must never be missed.
      if (entry.controller.mode !== door.mode) entry.controller.setMode(door.mode);
      entry.door = door;
      return;
    }
    if (entry) {
      this.#entries.delete(door.id);
      await this.#stopController(entry.controller);
    }
    const controller = await this.#build(door, checked.door);
    if (!controller) return;
    this.#entries.set(door.id, { door, controller });
    try {
      await controller.start();
    } catch (err) {
      this.#logger.error({ err, door: door.id }, 'door failed to start');
      this.#configError(door.id, `door failed to start: ${errorMessage(err)}`);
    }
  }

  async #build(door: Door, settings: DoorSettings): Promise<DoorController | null> {
    const { bus, emitEvent, clock, logger, wiredIo } = this.#options;
    let io: DoorIo;
    try {
      if (door.transport === 'mqtt') io = new MqttDoorIo(bus, door.id, clock);
      else if (wiredIo) io = await wiredIo(door);
      else throw new Error(`no wired I/O configured for a '${door.transport}' door`);
    } catch (err) {
      this.#configError(door.id, `door I/O could not be set up: ${errorMessage(err)}`);
      return null;
    }
    return new DoorController({
      door: settings,
      io,
      bus,
      emitEvent,
      ...(clock ? { clock } : {}),
      ...(logger ? { logger } : {}),
      ...(this.#options.decorateStatus ? { decorateStatus: this.#options.decorateStatus } : {}),
    });
  }

  async #stopController(controller: DoorController): Promise<void> {
    try {
      await controller.stop();
    } catch (err) {
      this.#logger.error({ err, door: controller.id }, 'door failed to stop');
    }
  }

  #onDecided(p: Presentation, d: Decision): void {
    try {
      if (!d?.granted) return;
      const controller = this.#entries.get(p.doorId)?.controller;
      if (!controller) {
        this.#logger.warn({ door: p.doorId }, 'grant for an unknown door ignored');
        return;
      }
      controller.grant(d.unlockMs, {
        personId: d.personId ?? null,
        credentialId: d.credentialId ?? null,
        source: 'credential',
      });
    } catch (err) {
      this.#logger.error({ err }, 'grant routing failed');
    }
  }

  /** Device reports go to MQTT doors only: a wired door's own inputs are the truth. */
  #route(message: { doorId?: unknown }, deliver: (controller: DoorController) => boolean): void {
    try {
      if (typeof message?.doorId !== 'string') return;
      const controller = this.#entries.get(message.doorId)?.controller;
      if (controller?.transport !== 'mqtt') {
        this.#logger.debug({ door: message.doorId }, 'door report for no MQTT door ignored');
        return;
      }
      deliver(controller);
    } catch (err) {
      this.#logger.error({ err }, 'door report routing failed');
    }
  }

  /** The broker's availability of a device (one message per door it serves). */
  #followDevice(input: { doorId?: unknown; type?: unknown; data?: Record<string, unknown> }): void {
    try {
      if (input?.type !== 'availability' || typeof input.doorId !== 'string') return;
      const { online, deviceId } = input.data ?? {};
      if (typeof online !== 'boolean' || typeof deviceId !== 'string') return;
      this.#presence.availability(input.doorId, deviceId, online);
    } catch (err) {
      this.#logger.error({ err }, 'device availability failed');
    }
  }

  #configError(doorId: string, error: string): void {
    this.#logger.error({ door: doorId, error }, 'door not configured');
    const event: NewEvent = {
      type: 'alarm.door_config',
      doorId,
      personId: null,
      credentialId: null,
      data: { error },
    };
    try {
      const result = this.#options.emitEvent(event);
      if (result instanceof Promise)
        result.catch((err: unknown) => this.#logger.error({ err }, 'event lost'));
    } catch (err) {
      this.#logger.error({ err }, 'event could not be recorded');
    }
  }
}

function settingsChanged(a: Door, b: Door): boolean {
  return a.name !== b.name || a.unlockMs !== b.unlockMs || a.heldOpenMs !== b.heldOpenMs;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
