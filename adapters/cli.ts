// `gatehouse hw ...`: check wired door hardware before going live (docs/hardware-testing.md).
// Every command builds the door's hardware from the same config the hub uses, so what works here works there.
import type { Command } from 'commander';
import { maskCard } from '../hub/logger.js';
import {
  DOOR_INPUTS,
  HardwareConfigError,
  parseHardwareSettings,
  parseWiredDoors,
  type WiredDoorDef,
} from './config.js';
import {
  createDoorHardware,
  isSimDoorHardware,
  resolveDriver,
  simulatedParts,
  type WiredDoorHardware,
} from './factory.js';
import { DEFAULT_SYSFS_ROOT, listChips, PI_GPIO_LABELS } from './gpio/sysfs.js';
import { BUILTIN_FORMATS, decodeCard, decodeKey, resolveFormats } from './wiegand/formats.js';

export interface HardwareCliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Resolves when the user asks to stop (Ctrl-C). */
  interrupted?: () => Promise<void>;
}

const defaultIo: HardwareCliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interrupted: () => new Promise((resolve) => process.once('SIGINT', () => resolve())),
};

type LoadConfig = () => Promise<{ hardware?: unknown; doors?: unknown }>;

interface Loaded {
  driver: 'gpio' | 'sim';
  sysfsRoot: string;
  doors: WiredDoorDef[];
}

async function load(loadConfig: LoadConfig, forceSim: boolean): Promise<Loaded> {
  const config = await loadConfig();
  const { doors: nested, ...settingsInput } = (config.hardware ?? {}) as Record<string, unknown>;
  const settings = parseHardwareSettings(settingsInput);
  // The wired doors live in `hardware.doors`; a top-level array is accepted for callers that pass them apart.
  const doors = parseWiredDoors(nested ?? (Array.isArray(config.doors) ? config.doors : []));
  const driver = forceSim ? 'sim' : await resolveDriver(settings.driver, settings.sysfsRoot);
  return { driver, sysfsRoot: settings.sysfsRoot, doors };
}

function findDoor(loaded: Loaded, doorId: string): WiredDoorDef {
  const def = loaded.doors.find((d) => d.door === doorId);
  if (!def) {
    const known = loaded.doors.map((d) => d.door).join(', ') || 'none';
    throw new HardwareConfigError(`no wired door "${doorId}" in hardware config (wired doors: ${known})`);
  }
  return def;
}

const stamp = () => new Date().toISOString().slice(11, 23);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function positiveInt(value: string, name: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new HardwareConfigError(`${name} must be a whole number 1–${max}`);
  return n;
}

export function registerHardwareCommands(
  program: Command,
  loadConfig: LoadConfig,
  io: HardwareCliIo = defaultIo,
): Command {
  const hw = program
    .command('hw')
    .description(
      'check wired door hardware: relays, inputs, Wiegand and PN532 readers (docs/hardware-testing.md)',
    );

  const run =
    <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      try {
        await action(...args);
      } catch (err) {
        io.err(`error: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
      }
    };

  const withDoor = async (
    doorId: string,
    opts: { sim?: boolean },
    body: (hw: WiredDoorHardware, def: WiredDoorDef, loaded: Loaded) => Promise<void>,
  ) => {
    const loaded = await load(loadConfig, opts.sim === true);
    const def = findDoor(loaded, doorId);
    const door = await createDoorHardware(def, { driver: loaded.driver, sysfsRoot: loaded.sysfsRoot });
    try {
      await body(door, def, loaded);
    } finally {
      await door.close();
    }
  };

  hw.command('list')
    .description('show the GPIO chip, the driver and every configured line')
    .option('--sim', 'use the simulator even where GPIO exists')
    .action(
      run(async (opts: { sim?: boolean }) => {
        const loaded = await load(loadConfig, opts.sim === true);
        io.out(`driver: ${loaded.driver}`);
        if (loaded.driver === 'sim')
          io.out('simulated: every GPIO line (relays, inputs, Wiegand); PN532 readers as listed below');
        let base: number | null = null;
        if (loaded.driver === 'gpio') {
          const chips = await listChips(loaded.sysfsRoot);
          for (const c of chips) io.out(`chip ${c.name}: label ${c.label}, base ${c.base}, ${c.ngpio} lines`);
          const header = chips.find((c) => (PI_GPIO_LABELS as readonly string[]).includes(c.label));
          base = header?.base ?? null;
          if (!header) io.out(`no header GPIO chip under ${loaded.sysfsRoot ?? DEFAULT_SYSFS_ROOT}`);
        }
        const line = (bcm: number) => (base === null ? `BCM ${bcm}` : `BCM ${bcm} (sysfs ${base + bcm})`);
        if (loaded.doors.length === 0) io.out('no wired doors configured (hardware.doors)');
        for (const d of loaded.doors) {
          const parts = simulatedParts(d, loaded.driver);
          io.out(`door ${d.door}:`);
          io.out(
            `  lock     ${line(d.lock.gpio)} ${d.lock.activeLow ? 'active-low' : 'active-high'}, fail-${d.lock.failMode}`,
          );
          for (const name of DOOR_INPUTS) {
            const i = d[name];
            if (i)
              io.out(
                `  ${name.padEnd(8)} ${line(i.gpio)} ${i.activeLow ? 'active-low' : 'active-high'}, debounce ${i.debounceMs} ms`,
              );
          }
          for (const r of d.readers ?? []) {
            if (r.type === 'wiegand')
              io.out(`  reader   ${r.id}: wiegand D0 ${line(r.d0)}, D1 ${line(r.d1)}`);
            else
              io.out(`  reader   ${r.id}: pn532 on ${r.path} at ${r.baudRate} baud, ${parts.readers[r.id]}`);
          }
          for (const k of d.keypads ?? [])
            io.out(`  keypad   ${k.id}: wiegand D0 ${line(k.d0)}, D1 ${line(k.d1)}`);
        }
      }),
    );

  hw.command('relay')
    .description("unlock a door's lock relay for a while, then lock it again")
    .argument('<door>', 'wired door id')
    .option('--ms <ms>', 'how long to energise the relay', '3000')
    .option('--sim', 'use the simulator even where GPIO exists')
    .action(
      run(async (doorId: string, opts: { ms: string; sim?: boolean }) => {
        const ms = positiveInt(opts.ms, '--ms', 60_000);
        await withDoor(doorId, opts, async (door, def) => {
          // Unlock = energise for a fail-secure strike, release for a fail-safe maglock.
          const lockedEnergised = def.lock.failMode === 'safe';
          const word = (energised: boolean) => (energised ? 'energised' : 'released');
          io.out(`${stamp()} ${doorId}: relay on BCM ${def.lock.gpio} is ${word(door.lock.read())} (locked)`);
          // Ctrl-C while unlocked must not leave the door open.
          const onInterrupt = () => {
            door.lock.write(lockedEnergised).finally(() => process.exit(130));
          };
          process.once('SIGINT', onInterrupt);
          try {
            await door.lock.write(!lockedEnergised);
            const state = word(!lockedEnergised).toUpperCase();
            io.out(`${stamp()} ${doorId}: relay ${state} (unlocked) for ${ms} ms — listen for the click`);
            await sleep(ms);
          } finally {
            process.off('SIGINT', onInterrupt);
            await door.lock.write(lockedEnergised);
          }
          io.out(`${stamp()} ${doorId}: relay ${word(lockedEnergised)} (locked again)`);
        });
      }),
    );

  hw.command('watch')
    .description('print input changes, cards and keypad entries as they happen')
    .argument('<door>', 'wired door id')
    .option('--seconds <s>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--sim', 'use the simulator even where GPIO exists')
    .action(
      run(async (doorId: string, opts: { seconds?: string; sim?: boolean }) => {
        const seconds = opts.seconds === undefined ? null : positiveInt(opts.seconds, '--seconds', 86_400);
        await withDoor(doorId, opts, async (door) => {
          const offs: Array<() => void> = [];
          for (const name of DOOR_INPUTS) {
            const input = door[name];
            if (!input) continue;
            io.out(`${stamp()} ${name}: ${input.read() ? 'ACTIVE' : 'inactive'}`);
            offs.push(
              input.watch((active) => io.out(`${stamp()} ${name}: ${active ? 'ACTIVE' : 'inactive'}`)),
            );
          }
          for (const r of door.readers) {
            offs.push(
              r.onCard((v) => io.out(`${stamp()} ${r.id}: card ${maskCard(v)} (${v.length * 4} bits)`)),
            );
            let shown = `${r.health().online} ${r.health().errors}`;
            const show = (h: { online: boolean; errors: number }) => {
              if (`${h.online} ${h.errors}` === shown) return;
              shown = `${h.online} ${h.errors}`;
              io.out(`${stamp()} ${r.id}: ${h.online ? 'online' : 'OFFLINE'}, errors ${h.errors}`);
            };
            offs.push(r.onHealth(show));
            // Readers announce state changes only; an installer at the wiring wants every error counted.
            const poll = setInterval(() => show(r.health()), 200);
            offs.push(() => clearInterval(poll));
            await r.start();
          }
          for (const k of door.keypads) {
            offs.push(k.onCode((c) => io.out(`${stamp()} ${k.id}: code entered (${c.length} digits)`)));
            await k.start();
          }
          io.out(`${stamp()} watching ${doorId}${seconds ? ` for ${seconds} s` : ' (Ctrl-C to stop)'}`);
          const waits: Array<Promise<void>> = [];
          if (seconds) waits.push(sleep(seconds * 1000));
          if (io.interrupted) waits.push(io.interrupted());
          await Promise.race(waits);
          for (const off of offs) off();
        });
      }),
    );

  hw.command('read-card')
    .description('wait for one card and print its full value (for enrolling cards)')
    .argument('<door>', 'wired door id')
    .option('--reader <id>', 'which reader (default: any)')
    .option('--timeout <s>', 'give up after this many seconds', '30')
    .option('--sim', 'use the simulator even where GPIO exists')
    .option('--present <hex>', 'simulator only: present this card')
    .action(
      run(
        async (
          doorId: string,
          opts: { reader?: string; timeout: string; sim?: boolean; present?: string },
        ) => {
          const timeoutS = positiveInt(opts.timeout, '--timeout', 3600);
          await withDoor(doorId, opts, async (door) => {
            const readers = door.readers.filter((r) => !opts.reader || r.id === opts.reader);
            if (readers.length === 0)
              throw new HardwareConfigError(
                `door ${doorId} has no reader${opts.reader ? ` "${opts.reader}"` : ''}`,
              );
            let resolveCard: (v: { reader: string; value: string }) => void = () => undefined;
            const card = new Promise<{ reader: string; value: string }>((r) => {
              resolveCard = r;
            });
            const offs = readers.map((r) => r.onCard((value) => resolveCard({ reader: r.id, value })));
            for (const r of readers) await r.start();
            io.out(`hold a card to ${readers.map((r) => r.id).join(' or ')} (${timeoutS} s)…`);
            if (opts.present) {
              if (!isSimDoorHardware(door))
                throw new HardwareConfigError('--present works only with the simulator (--sim)');
              await sleep(200);
              door.presentCard(opts.present, { readerId: readers[0]!.id });
            }
            const result = await Promise.race([card, sleep(timeoutS * 1000).then(() => null)]);
            for (const off of offs) off();
            if (!result) {
              const health = readers.map(
                (r) => `${r.id}: ${r.health().online ? 'online' : 'OFFLINE'}, ${r.health().errors} errors`,
              );
              throw new HardwareConfigError(`no card within ${timeoutS} s (${health.join('; ')})`);
            }
            io.out(`${result.reader}: card ${result.value}`);
          });
        },
      ),
    );

  hw.command('decode')
    .description('decode a Wiegand frame given as bits, e.g. from a logic analyser')
    .argument('<bits>', 'the frame as 0s and 1s, first bit first')
    .action(
      run(async (bitsText: string) => {
        const clean = bitsText.replace(/[\s_]/g, '');
        if (!/^[01]{1,64}$/.test(clean))
          throw new HardwareConfigError('bits must be 1–64 characters of 0 and 1');
        const bits = [...clean].map((c) => (c === '1' ? 1 : 0));
        if (bits.length === 4 || bits.length === 8) {
          const key = decodeKey(bits);
          io.out(
            key.ok
              ? `keypad key "${key.key}" (${bits.length}-bit burst)`
              : `rejected key burst: ${key.reason}`,
          );
          return;
        }
        const result = decodeCard(bits, resolveFormats(undefined));
        if (result.ok) io.out(`${result.format}: card ${result.valueHex} (${bits.length} bits, parity ok)`);
        else {
          const formats = Object.values(BUILTIN_FORMATS)
            .map((f) => `${f.name}=${f.bits}`)
            .join(', ');
          io.out(
            `rejected: ${result.reason === 'parity' ? 'parity check failed' : `no format has ${bits.length} bits (${formats})`}`,
          );
          process.exitCode = 2;
        }
      }),
    );

  return hw;
}
