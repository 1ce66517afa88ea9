// The `home-assistant` part (docs/home-assistant.md): publishes retained MQTT discovery configs for the
// hub and every door, keeps their retained state topics current (only on change), republishes all of it
// when Home Assistant announces itself, and turns Home Assistant's lock and mode commands into the
// command layer's door.unlock / door.set_mode, run as the integration account that sent them — the
// same roles, policy (lockdown, fire release) and audit actor as any other integration. On an external
// broker the sender is inferred from the broker's ACL (docs/external-broker.md §2) and the reason says so.
import { ALARM_RELATED_TYPES } from '../alarms.js';
import type { DeviceIdentity } from '../broker/acl.js';
import { bridgeCaller } from '../broker/bridge-requests.js';
import type { IntegrationTopics } from '../broker/broker.js';
import type { DoorStatus, EventBus } from '../bus.js';
import { type Caller, type Commands, toCommandError } from '../commands/command.js';
import type { Door, DoorMode, HubEvent } from '../domain.js';
import type { Logger } from '../logger.js';
import { shorten } from '../text.js';
import type { HomeAssistantConfig } from './config.js';
import {
  type DiscoveryMessage,
  discoveryMessages,
  HA_MODES,
  haTopics,
  isSafeLevel,
  LOCK_PAYLOADS,
  parseCommandTopic,
} from './discovery.js';
import { type ActiveAlarm, doorState, hubState } from './states.js';

/** What the part needs of the broker (hub/broker/broker.ts). */
export interface HaBroker {
  publishOutside(topic: string, payload: string, retain: boolean): Promise<void>;
  useIntegrationTopics(extra: IntegrationTopics | null): void;
}

export interface HomeAssistantOptions {
  config: HomeAssistantConfig;
  baseTopic: string;
  /** The hub's id in Home Assistant (config nodeId or defaultNodeId). */
  nodeId: string;
  version: string;
  broker: HaBroker;
  bus: EventBus;
  commands: Commands;
  /** Doors as the store has them. */
  doors: () => Door[];
  /** Live state of every door. */
  doorStatus: () => DoorStatus[];
  /** Alarms active now (hub/alarms.ts). */
  activeAlarms: () => ActiveAlarm[];
  /** Devices with a live MQTT connection, and the cloud link's state. */
  health: () => { devicesOnline: number; cloud: string };
  /**
   * The audited reason of a command. With an external broker the hub does not see which integration
   * account sent it (docs/external-broker.md §2), and the reason says so.
   */
  commandReason?: string;
  logger: Logger;
}

/** Longest command payload read (`UNLOCK`, `lockdown`); anything longer is refused unread. */
const MAX_COMMAND_BYTES = 16;
/** Home Assistant restarting in a loop republishes everything at most this often. */
const REPUBLISH_AT_MOST_EVERY_MS = 2000;
/** Alarm and door changes that come together are read once. */
const ALARM_DEBOUNCE_MS = 100;
const REASON = 'Home Assistant';
/** The reason when the command came through an external broker. */
export const EXTERNAL_REASON = 'Home Assistant (external broker)';
/** Door records changed (not a remote unlock: that is a door state, which doorStatus brings). */
const DOOR_CHANGES = /^admin\.door\.(?!unlocked$)/;

export class HomeAssistant implements IntegrationTopics {
  readonly subscribe: readonly string[];
  readonly publishFilters: readonly string[];
  readonly hubPublishFilters: readonly string[];
  readonly #reason: string;
  readonly #o: HomeAssistantOptions;
  readonly #t: ReturnType<typeof haTopics>;
  /** Retained topic → payload last published (discovery configs and states). */
  readonly #published = new Map<string, string>();
  #alarms: ActiveAlarm[] = [];
  #alarmTimer: NodeJS.Timeout | null = null;
  #healthTimer: NodeJS.Timeout | null = null;
  #lastRepublishAt = 0;
  #republishTimer: NodeJS.Timeout | null = null;
  #running = false;
  readonly #counts = { commands: 0, refused: 0, births: 0 };
  #lastBirthAt: number | null = null;

  constructor(options: HomeAssistantOptions) {
    const { config, baseTopic } = options;
    const prefix = config.discoveryPrefix;
    // The integration accounts may read everything under the prefix: it must not reach the contract.
    if (prefix.split('/')[0] === baseTopic) {
      throw new Error(
        `homeAssistant.discoveryPrefix '${prefix}' must not start with mqtt.baseTopic '${baseTopic}'`,
      );
    }
    this.#o = options;
    this.#t = haTopics(baseTopic, prefix);
    this.subscribe = this.#t.subscribe;
    this.publishFilters = [this.#t.haStatus, this.#t.doorLockSet('+'), this.#t.doorModeSet('+')];
    this.hubPublishFilters = [`${prefix}/#`];
    this.#reason = options.commandReason ?? REASON;
  }

  async start(): Promise<void> {
    const { bus, broker } = this.#o;
    this.#running = true;
    this.#alarms = this.#readAlarms();
    broker.useIntegrationTopics(this);
    bus.on(this, 'doorStatus', (status) => this.#publishDoor(status));
    bus.on(this, 'event', (e) => this.#onEvent(e));
    bus.on(this, 'storeChanged', () => this.#reconcile());
    // Alarms that end by the clock (a keypad lockout) and the health fields change without an event.
    this.#healthTimer = setInterval(() => this.#refreshAlarms(), this.#o.config.healthSeconds * 1000);
    this.#healthTimer.unref();
    await this.#reconcile();
    this.#o.logger.info(
      { discoveryPrefix: this.#o.config.discoveryPrefix, nodeId: this.#o.nodeId },
      'Home Assistant discovery published',
    );
  }

  /** Discovery stays retained: Home Assistant shows the hub unavailable (bridge offline), not gone. */
  stop(): void {
    this.#running = false;
    this.#o.broker.useIntegrationTopics(null);
    this.#o.bus.removeAll(this);
    for (const timer of [this.#alarmTimer, this.#healthTimer, this.#republishTimer]) {
      if (timer) clearTimeout(timer);
    }
    this.#alarmTimer = this.#healthTimer = this.#republishTimer = null;
    this.#published.clear();
  }

  status(): Record<string, unknown> {
    const configs = [...this.#published.keys()].filter((t) => t.endsWith('/config')).length;
    return {
      discoveryPrefix: this.#o.config.discoveryPrefix,
      nodeId: this.#o.nodeId,
      entities: configs,
      commands: this.#counts.commands,
      refused: this.#counts.refused,
      births: this.#counts.births,
      lastBirthAt: this.#lastBirthAt,
    };
  }

  // ---- IntegrationTopics (the broker asks) ----

  publishable(topic: string): boolean {
    return topic === this.#t.haStatus || parseCommandTopic(this.#o.baseTopic, topic) !== null;
  }

  /** An external broker (re)connected: everything again, it may have lost or refused the retained messages. */
  reconnected(): void {
    void this.#republishAll();
  }

  allowsWill(topic: string, payload: Buffer): boolean {
    return topic === this.#t.haStatus && payload.toString('utf8') === 'offline';
  }

  accept(
    topic: string,
    payload: Buffer,
    from: DeviceIdentity,
  ): { error: string } | { run: () => Promise<string | null> } {
    const text = payload.length <= MAX_COMMAND_BYTES ? payload.toString('utf8').trim() : null;
    if (topic === this.#t.haStatus) {
      if (text !== 'online' && text !== 'offline') {
        return { error: "invalid Home Assistant status: payload must be the text 'online' or 'offline'" };
      }
      return {
        run: async () => {
          if (text === 'online') this.#birth();
          return null;
        },
      };
    }
    const command = parseCommandTopic(this.#o.baseTopic, topic);
    const caller = bridgeCaller(from);
    if (!command || !caller) return { error: 'not allowed: not a Home Assistant command topic' };
    if (command.command === 'lock') {
      if (text !== LOCK_PAYLOADS.lock && text !== LOCK_PAYLOADS.unlock) {
        return { error: 'invalid Home Assistant lock command: payload must be the text LOCK or UNLOCK' };
      }
      return { run: () => this.#lockCommand(command.doorId, text, caller) };
    }
    const mode = HA_MODES.find((m) => m === text);
    if (mode === undefined) {
      return {
        error: `invalid Home Assistant mode command: payload must be one of ${HA_MODES.join(', ')}`,
      };
    }
    return { run: () => this.#run(command.doorId, 'door.set_mode', { id: command.doorId, mode }, caller) };
  }

  // ---- commands ----

  /**
   * UNLOCK is door.unlock: the door opens for its unlock time and locks itself again. LOCK ends a
   * "keep unlocked" mode (door.set_mode normal); a door that is locked, in lockdown or relocking on its
   * own has nothing to lock, and LOCK never lifts a lockdown.
   */
  async #lockCommand(doorId: string, payload: string, caller: Caller): Promise<string | null> {
    if (payload === LOCK_PAYLOADS.unlock) {
      return this.#run(doorId, 'door.unlock', { id: doorId, reason: this.#reason }, caller);
    }
    const mode: DoorMode | undefined = this.#o.doors().find((d) => d.id === doorId)?.mode;
    if (mode === 'unlocked') {
      return this.#run(doorId, 'door.set_mode', { id: doorId, mode: 'normal', reason: this.#reason }, caller);
    }
    if (mode === undefined) return this.#run(doorId, 'door.set_mode', { id: doorId, mode: 'normal' }, caller);
    this.#resendDoor(doorId);
    return null;
  }

  /** Runs one command as the account that sent it; the refusal text goes back to that account. */
  async #run(
    doorId: string,
    name: string,
    input: Record<string, unknown>,
    caller: Caller,
  ): Promise<string | null> {
    this.#counts.commands++;
    try {
      await this.#o.commands.execute(name, { reason: this.#reason, ...input }, caller);
      return null;
    } catch (err) {
      this.#counts.refused++;
      // Home Assistant waits for the state topic: say again what the door really is.
      this.#resendDoor(doorId);
      const refusal = toCommandError(err);
      if (refusal) {
        this.#o.logger.info(
          { door: shorten(doorId, 64), actor: caller.actor, command: name, code: refusal.code },
          `Home Assistant command refused: ${refusal.message}`,
        );
        return `${name} refused: ${refusal.message}`;
      }
      this.#o.logger.error(
        { err, door: shorten(doorId, 64), command: name },
        'Home Assistant command failed',
      );
      return `${name} failed: internal error, see the hub log`;
    }
  }

  // ---- publishing ----

  #birth(): void {
    this.#counts.births++;
    this.#lastBirthAt = Date.now();
    const wait = this.#lastRepublishAt + REPUBLISH_AT_MOST_EVERY_MS - Date.now();
    if (wait <= 0) {
      void this.#republishAll();
      return;
    }
    this.#republishTimer ??= setTimeout(() => {
      this.#republishTimer = null;
      void this.#republishAll();
    }, wait);
  }

  /** Home Assistant came (back): everything again, so it needs nothing it may have missed. */
  async #republishAll(): Promise<void> {
    if (!this.#running) return;
    this.#lastRepublishAt = Date.now();
    // One synchronous pass: a state that changes meanwhile is published after its old value, never before.
    await Promise.all([...this.#published].map(([topic, payload]) => this.#send(topic, payload)));
  }

  /**
   * Discovery configs follow the doors: new and changed ones published, removed ones cleared. Every
   * state is read and handed to the broker in one synchronous pass, so a door change that happens
   * meanwhile is always published after (never overwritten by) what this pass read.
   */
  async #reconcile(): Promise<void> {
    if (!this.#running) return;
    const doors = this.#o.doors();
    const messages: DiscoveryMessage[] = discoveryMessages({
      prefix: this.#o.config.discoveryPrefix,
      baseTopic: this.#o.baseTopic,
      nodeId: this.#o.nodeId,
      version: this.#o.version,
      doors,
    });
    const wanted = new Map(messages.map((m) => [m.topic, JSON.stringify(m.payload)]));
    const live = new Map(this.#o.doorStatus().map((s) => [s.doorId, s]));
    for (const door of doors) {
      if (!isSafeLevel(door.id)) continue;
      const status = live.get(door.id);
      if (status) {
        wanted.set(this.#t.doorState(door.id), JSON.stringify(doorState(status, this.#alarms)));
        wanted.set(this.#t.doorAvailability(door.id), status.online ? 'online' : 'offline');
      } else {
        // Known to the store, not (yet) to the door manager: keep what was there.
        for (const topic of [this.#t.doorState(door.id), this.#t.doorAvailability(door.id)]) {
          const previous = this.#published.get(topic);
          if (previous !== undefined) wanted.set(topic, previous);
        }
      }
    }
    wanted.set(this.#t.hubState, JSON.stringify(this.#hubPayload()));
    const sends: Promise<void>[] = [];
    // Removed first: Home Assistant drops the entity on an empty retained config.
    for (const topic of [...this.#published.keys()]) {
      if (wanted.has(topic)) continue;
      this.#published.delete(topic);
      sends.push(this.#send(topic, ''));
    }
    for (const [topic, payload] of wanted) sends.push(this.#update(topic, payload));
    await Promise.all(sends);
  }

  #publishDoor(status: DoorStatus): void {
    if (!this.#running || !isSafeLevel(status.doorId)) return;
    // A door the store no longer has is cleared by #reconcile, not brought back by a late status.
    if (!this.#published.has(this.#t.doorState(status.doorId)) && !this.#knownDoor(status.doorId)) return;
    void this.#update(this.#t.doorState(status.doorId), JSON.stringify(doorState(status, this.#alarms)));
    void this.#update(this.#t.doorAvailability(status.doorId), status.online ? 'online' : 'offline');
  }

  #knownDoor(doorId: string): boolean {
    return this.#o.doors().some((d) => d.id === doorId);
  }

  #resendDoor(doorId: string): void {
    const topic = this.#t.doorState(doorId);
    const payload = this.#published.get(topic);
    if (payload !== undefined) void this.#send(topic, payload);
  }

  #publishHub(): void {
    if (!this.#running) return;
    void this.#update(this.#t.hubState, JSON.stringify(this.#hubPayload()));
  }

  #hubPayload() {
    const health = this.#o.health();
    return hubState({ alarms: this.#alarms, devicesOnline: health.devicesOnline, cloud: health.cloud });
  }

  #onEvent(e: HubEvent): void {
    if (DOOR_CHANGES.test(e.type)) void this.#reconcile();
    if (e.type.startsWith('alarm.') || ALARM_RELATED_TYPES.includes(e.type)) {
      this.#alarmTimer ??= setTimeout(() => {
        this.#alarmTimer = null;
        this.#refreshAlarms();
      }, ALARM_DEBOUNCE_MS);
    }
  }

  #refreshAlarms(): void {
    if (!this.#running) return;
    this.#alarms = this.#readAlarms();
    for (const status of this.#o.doorStatus()) this.#publishDoor(status);
    this.#publishHub();
  }

  #readAlarms(): ActiveAlarm[] {
    try {
      return this.#o.activeAlarms();
    } catch (err) {
      this.#o.logger.warn({ err }, 'could not read the active alarms');
      return this.#alarms;
    }
  }

  /** Retained, and only when it changed. */
  async #update(topic: string, payload: string): Promise<void> {
    if (this.#published.get(topic) === payload) return;
    this.#published.set(topic, payload);
    await this.#send(topic, payload);
  }

  async #send(topic: string, payload: string): Promise<void> {
    try {
      await this.#o.broker.publishOutside(topic, payload, true);
    } catch (err) {
      if (this.#running) this.#o.logger.warn({ err, topic: shorten(topic, 200) }, 'could not publish');
    }
  }
}

export { HomeAssistantConfigSchema } from './config.js';
export { defaultNodeId } from './discovery.js';
