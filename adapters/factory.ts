// Builds the hardware of a wired door from validated config: lock relay first (driven to the locked state),
// then inputs, then readers and keypads. The same definitions run on real GPIO or on the simulator.
import type { Logger } from 'pino';
import {
  DOOR_INPUTS,
  type DoorInputName,
  HardwareConfigError,
  type InputLineDef,
  type WiredDoorDef,
} from './config.js';
import { DebouncedInput, type Level, type LineDriver, RelayOutput } from './gpio/lines.js';
import { gpioAccessible } from './gpio/sysfs.js';
import { Pn532Reader } from './pn532/reader.js';
import type { SerialOpener } from './pn532/serial.js';
import { SimLineBoard } from './sim/lines.js';
import { Pn532Emulator } from './sim/pn532.js';
import { EmulatedSerialCable } from './sim/serial.js';
import { SimWiegandTransmitter } from './sim/wiegand.js';
import type { CardReader, DigitalInput, DigitalOutput, Keypad } from './types.js';
import { BUILTIN_FORMATS, encodeCard, resolveFormats, type WiegandFormat } from './wiegand/formats.js';
import { WiegandKeypad, WiegandLink, WiegandReader } from './wiegand/reader.js';

export type HardwareDriver = 'gpio' | 'sim';

export interface WiredDoorHardware {
  doorId: string;
  /** From config; the door controller gets the authoritative one from the door record. */
  failMode: 'secure' | 'safe';
  /** `write(true)` energises the relay (see relayEnergised in hub/doors/io.ts for lock semantics). */
  lock: DigitalOutput;
  contact?: DigitalInput;
  rex?: DigitalInput;
  tamper?: DigitalInput;
  fire?: DigitalInput;
  doorbell?: DigitalInput;
  readers: CardReader[];
  keypads: Keypad[];
  /**
   * Stops readers and keypads and releases every line. The relay keeps its level (the door controller
   * relocks on stop, except during a fire release); callers without a controller write the lock first.
   */
  close(): Promise<void>;
}

export interface DoorHardwareOptions {
  driver: HardwareDriver;
  logger?: Logger;
  /** Where sysfs GPIO lives (gpio driver). Default /sys/class/gpio. */
  sysfsRoot?: string;
  /** Lines to use instead of creating them (a shared sim board, or a driver built by the caller). */
  lines?: LineDriver;
  /** Opens PN532 serial ports (gpio driver). Default: serialport. */
  openSerial?: SerialOpener;
}

/** Which parts of a door are simulated under `driver`, one phrase per part (for `hw list` and the hub log). */
export function simulatedParts(
  def: WiredDoorDef,
  driver: HardwareDriver,
): { gpio: boolean; readers: Record<string, string> } {
  const readers: Record<string, string> = {};
  for (const r of def.readers ?? []) {
    if (r.type === 'wiegand') readers[r.id] = driver === 'sim' ? 'simulated (Wiegand lines)' : 'real';
    else if (driver === 'sim' && r.emulated !== false)
      readers[r.id] = `emulated PN532 (set emulated: false to use ${r.path})`;
    else readers[r.id] = `real serial port ${r.path}`;
  }
  return { gpio: driver === 'sim', readers };
}

/** 'auto' → 'gpio' when this machine can export GPIO lines, else 'sim'. */
export async function resolveDriver(
  driver: 'auto' | HardwareDriver | undefined,
  sysfsRoot?: string,
): Promise<HardwareDriver> {
  if (driver === 'gpio' || driver === 'sim') return driver;
  return (await gpioAccessible(sysfsRoot)) ? 'gpio' : 'sim';
}

async function createLineDriver(options: DoorHardwareOptions): Promise<LineDriver> {
  if (options.lines) return options.lines;
  if (options.driver === 'sim') return new SimLineBoard();
  const { OnoffLineDriver } = await import('./gpio/onoff.js');
  return new OnoffLineDriver({
    ...(options.sysfsRoot !== undefined ? { sysfsRoot: options.sysfsRoot } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

const inactiveLevel = (def: InputLineDef): Level => ((def.activeLow ?? true) ? 1 : 0);
const activeLevel = (def: InputLineDef): Level => ((def.activeLow ?? true) ? 0 : 1);

/** The relay level that keeps the door locked: fail-secure = released, fail-safe = energised. */
function lockedLevel(def: WiredDoorDef): Level {
  const energised = (def.lock.failMode ?? 'secure') === 'safe';
  return energised !== (def.lock.activeLow ?? false) ? 1 : 0;
}

async function createLock(def: WiredDoorDef, lines: LineDriver): Promise<RelayOutput> {
  const line = await lines.output(def.lock.gpio, lockedLevel(def), `${def.door}.lock`);
  return new RelayOutput(line, def.lock.activeLow ?? false);
}

interface SimParts {
  board: SimLineBoard;
  emulators: Map<string, { emulator: Pn532Emulator; cable: EmulatedSerialCable }>;
}

async function buildDoor(
  def: WiredDoorDef,
  lines: LineDriver,
  lock: RelayOutput,
  options: DoorHardwareOptions,
  ownsLines: boolean,
  sim: SimParts | null,
): Promise<WiredDoorHardware> {
  const logger = options.logger?.child({ door: def.door });
  const inputs: DigitalInput[] = [];
  const readers: CardReader[] = [];
  const keypads: Keypad[] = [];
  const links = new Map<string, WiegandLink>();
  const hw: WiredDoorHardware = {
    doorId: def.door,
    failMode: def.lock.failMode ?? 'secure',
    lock,
    readers,
    keypads,
    close: async () => {
      for (const r of [...readers, ...keypads]) await r.stop().catch(() => undefined);
      for (const link of links.values()) {
        await link.d0.close().catch(() => undefined);
        await link.d1.close().catch(() => undefined);
      }
      for (const i of inputs) await i.close().catch(() => undefined);
      await lock.close();
      if (ownsLines) await lines.close();
    },
  };
  try {
    for (const name of DOOR_INPUTS) {
      const inputDef = def[name];
      if (!inputDef) continue;
      if (sim) sim.board.preset(inputDef.gpio, inactiveLevel(inputDef));
      const raw = await lines.input(inputDef.gpio, `${def.door}.${name}`, 'both');
      const input = new DebouncedInput(raw, inputDef.activeLow ?? true, inputDef.debounceMs ?? 20);
      inputs.push(input);
      hw[name] = input;
    }
    const linkFor = async (d0: number, d1: number, frameGapMs: number | undefined): Promise<WiegandLink> => {
      const key = `${d0}:${d1}`;
      let link = links.get(key);
      if (!link) {
        const l0 = await lines.input(d0, `${def.door}.wiegand.d0`, 'pulse-end');
        const l1 = await lines.input(d1, `${def.door}.wiegand.d1`, 'pulse-end');
        link = new WiegandLink(l0, l1, frameGapMs ? { frameGapMs } : {});
        links.set(key, link);
      }
      return link;
    };
    for (const r of def.readers ?? []) {
      if (r.type === 'wiegand') {
        const link = await linkFor(r.d0, r.d1, r.frameGapMs);
        readers.push(
          new WiegandReader({
            id: r.id,
            link,
            formats: resolveFormats(r.formats),
            ...(logger ? { logger } : {}),
          }),
        );
        continue;
      }
      let open = options.openSerial;
      if (r.emulated === true && !sim) {
        throw new HardwareConfigError(
          `reader ${r.id}: emulated: true works only with hardware.driver sim (a real door needs a real reader)`,
        );
      }
      // With the sim driver the GPIO lines are simulated; a PN532 is emulated unless it says emulated: false.
      if (sim && r.emulated !== false) {
        const emulator = new Pn532Emulator();
        const cable = new EmulatedSerialCable(emulator);
        sim.emulators.set(r.id, { emulator, cable });
        open = cable.open;
      }
      readers.push(
        new Pn532Reader({
          id: r.id,
          path: r.path,
          ...(r.baudRate !== undefined ? { baudRate: r.baudRate } : {}),
          ...(r.pollMs !== undefined ? { pollMs: r.pollMs } : {}),
          ...(r.timeoutMs !== undefined ? { timeoutMs: r.timeoutMs } : {}),
          ...(open ? { open } : {}),
          ...(logger ? { logger } : {}),
        }),
      );
    }
    for (const k of def.keypads ?? []) {
      const link = await linkFor(k.d0, k.d1, k.frameGapMs);
      keypads.push(
        new WiegandKeypad({
          id: k.id,
          link,
          ...(k.interDigitTimeoutMs !== undefined ? { interDigitTimeoutMs: k.interDigitTimeoutMs } : {}),
          ...(k.onTimeout !== undefined ? { onTimeout: k.onTimeout } : {}),
          ...(k.maxDigits !== undefined ? { maxDigits: k.maxDigits } : {}),
          ...(logger ? { logger } : {}),
        }),
      );
    }
  } catch (err) {
    await hw.close().catch(() => undefined);
    throw err;
  }
  return hw;
}

/** Builds one wired door. The lock relay is driven to the locked state before anything else is touched. */
export async function createDoorHardware(
  def: WiredDoorDef,
  options: DoorHardwareOptions,
): Promise<WiredDoorHardware> {
  if (options.driver === 'sim') return createSimDoorHardware(def, options);
  const lines = await createLineDriver(options);
  const ownsLines = !options.lines;
  let lock: RelayOutput;
  try {
    lock = await createLock(def, lines);
  } catch (err) {
    if (ownsLines) await lines.close().catch(() => undefined);
    throw err;
  }
  return buildDoor(def, lines, lock, options, ownsLines, null);
}

/**
 * Builds every wired door: all lock relays first (so no door waits unlocked while another door's readers
 * are set up), then inputs and readers. If any door fails, the ones built are closed and the error thrown.
 * Each door's close() releases its own lines; the doors share one line driver, which holds nothing else.
 */
export async function createWiredDoors(
  defs: readonly WiredDoorDef[],
  options: DoorHardwareOptions,
): Promise<WiredDoorHardware[]> {
  if (options.driver === 'sim') {
    const board = options.lines instanceof SimLineBoard ? options.lines : new SimLineBoard();
    const out: WiredDoorHardware[] = [];
    for (const def of defs) out.push(await createSimDoorHardware(def, { ...options, lines: board }));
    return out;
  }
  const lines = await createLineDriver(options);
  const locks: RelayOutput[] = [];
  const built: WiredDoorHardware[] = [];
  try {
    for (const def of defs) locks.push(await createLock(def, lines));
    for (const [i, def] of defs.entries())
      built.push(await buildDoor(def, lines, locks[i]!, options, false, null));
  } catch (err) {
    for (const hw of built) await hw.close().catch(() => undefined);
    for (const lock of locks.slice(built.length)) await lock.close().catch(() => undefined);
    if (!options.lines) await lines.close().catch(() => undefined);
    throw err;
  }
  return built;
}

// ---- Simulator ----------------------------------------------------------------------------------------------

/** A wired door on simulated hardware, with the controls a person at the door has. */
export interface SimDoorHardware extends WiredDoorHardware {
  readonly board: SimLineBoard;
  /** Is the lock relay energised right now? */
  lockEnergised(): boolean;
  /** Holds a card to a reader (the first one unless `readerId`); PN532 cards stay `holdMs` in the field. */
  presentCard(valueHex: string, options?: { readerId?: string; holdMs?: number }): void;
  /** Types keys on a keypad: digits, `*` clears, `#` submits. */
  typeKeys(keys: string, options?: { keypadId?: string; bitsPerKey?: 4 | 8 }): void;
  /** The door swings open (contact line active). */
  openDoor(): void;
  /** The door shuts (contact line inactive). */
  closeDoor(): void;
  pressRex(holdMs?: number): void;
  pressDoorbell(holdMs?: number): void;
  setTamper(active: boolean): void;
  setFire(active: boolean): void;
  /** The emulated PN532 behind a reader, and its cable (unplug/replug), for fault drills. */
  pn532(readerId: string): { emulator: Pn532Emulator; cable: EmulatedSerialCable } | undefined;
  /** The Wiegand transmitter on a reader's or keypad's D0/D1 pair. */
  wiegand(id: string): SimWiegandTransmitter | undefined;
}

export function isSimDoorHardware(hw: WiredDoorHardware): hw is SimDoorHardware {
  return 'board' in hw && (hw as SimDoorHardware).board instanceof SimLineBoard;
}

export async function createSimDoorHardware(
  def: WiredDoorDef,
  options: Omit<DoorHardwareOptions, 'driver'> & { driver?: HardwareDriver },
): Promise<SimDoorHardware> {
  const board = options.lines instanceof SimLineBoard ? options.lines : new SimLineBoard();
  const ownsLines = !(options.lines instanceof SimLineBoard);
  const sim: SimParts = { board, emulators: new Map() };
  const lock = await createLock(def, board);
  const hw = await buildDoor(def, board, lock, { ...options, driver: 'sim' }, ownsLines, sim);
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const drive = (name: DoorInputName, active: boolean) => {
    const inputDef = def[name];
    if (!inputDef) throw new Error(`door ${def.door} has no ${name} input in its config`);
    board.drive(inputDef.gpio, active ? activeLevel(inputDef) : inactiveLevel(inputDef));
  };
  const transmitters = new Map<string, SimWiegandTransmitter>();
  for (const r of [...(def.readers ?? []), ...(def.keypads ?? [])]) {
    if (r.type === 'wiegand') transmitters.set(r.id, new SimWiegandTransmitter(board, r.d0, r.d1));
  }
  const closeHardware = hw.close;
  const simHw: SimDoorHardware = Object.assign(hw, {
    board,
    lockEnergised: () => lock.read(),
    presentCard: (valueHex: string, o: { readerId?: string; holdMs?: number } = {}) => {
      const readerDef = (def.readers ?? []).find((r) => (o.readerId ? r.id === o.readerId : true));
      if (!readerDef)
        throw new Error(`door ${def.door} has no reader${o.readerId ? ` "${o.readerId}"` : ''}`);
      if (readerDef.type === 'pn532') {
        const parts = sim.emulators.get(readerDef.id);
        if (!parts)
          throw new HardwareConfigError(
            `reader ${readerDef.id} is a real serial reader (emulated: false): hold a real card to it`,
          );
        parts.emulator.presentCard(valueHex);
        later(o.holdMs ?? 500, () => parts.emulator.removeCard());
        return;
      }
      const format = pickFormat(valueHex, resolveFormats(readerDef.formats));
      transmitters.get(readerDef.id)!.sendBits(encodeCard(valueHex, format));
    },
    typeKeys: (keys: string, o: { keypadId?: string; bitsPerKey?: 4 | 8 } = {}) => {
      const keypadDef = (def.keypads ?? []).find((k) => (o.keypadId ? k.id === o.keypadId : true));
      if (!keypadDef)
        throw new Error(`door ${def.door} has no keypad${o.keypadId ? ` "${o.keypadId}"` : ''}`);
      transmitters
        .get(keypadDef.id)!
        .sendKeys(keys, o.bitsPerKey ?? 4, Math.max(40, (keypadDef.frameGapMs ?? 25) + 15));
    },
    openDoor: () => drive('contact', true),
    closeDoor: () => drive('contact', false),
    pressRex: (holdMs = 200) => {
      drive('rex', true);
      later(holdMs, () => drive('rex', false));
    },
    pressDoorbell: (holdMs = 200) => {
      drive('doorbell', true);
      later(holdMs, () => drive('doorbell', false));
    },
    setTamper: (active: boolean) => drive('tamper', active),
    setFire: (active: boolean) => drive('fire', active),
    pn532: (readerId: string) => sim.emulators.get(readerId),
    wiegand: (id: string) => transmitters.get(id),
  });
  // close() releases the hardware, as for real doors; closeDoor() is the person shutting the door.
  simHw.close = async () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await closeHardware();
  };
  return simHw;
}

function pickFormat(valueHex: string, formats: WiegandFormat[]): WiegandFormat {
  const bits = BigInt(`0x${valueHex}`).toString(2).length;
  const fit = formats.find(
    (f) => f.payload.length >= bits && Math.ceil(f.payload.length / 4) === valueHex.length,
  );
  return fit ?? formats.find((f) => f.payload.length >= bits) ?? BUILTIN_FORMATS.h10306;
}
