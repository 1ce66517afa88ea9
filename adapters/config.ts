// Schema for the `hardware` section of the config file: which GPIO lines and readers each wired door uses.
// Every field has a description and a default; docs/configuration.md is generated from this file.
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';

const Bcm = (description: string) => Type.Integer({ minimum: 0, maximum: 63, description });

export const LockOutputSchema = Type.Object(
  {
    gpio: Bcm('BCM number of the GPIO line that drives the lock relay (e.g. 17 for header pin 11).'),
    activeLow: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'True when the relay module energises on a LOW line (most opto-isolated 4-channel boards). Default false.',
      }),
    ),
    failMode: Type.Optional(
      Type.Union([Type.Literal('secure'), Type.Literal('safe')], {
        default: 'secure',
        description:
          "'secure': lock is locked without power (electric strike, relay energised = unlocked). " +
          "'safe': lock is unlocked without power (maglock, relay energised = locked). Must match the door's fail mode. " +
          'At boot the relay is driven to the locked state before anything else runs.',
      }),
    ),
  },
  { additionalProperties: false, description: 'The lock relay output.' },
);

const inputLine = (description: string) =>
  Type.Object(
    {
      gpio: Bcm('BCM number of the GPIO input line.'),
      activeLow: Type.Optional(
        Type.Boolean({
          default: true,
          description:
            'True when the input is active at LOW (switch to ground with a pull-up). Default true. ' +
            'For a door contact "active" means door open; for tamper and fire "active" means alarm.',
        }),
      ),
      debounceMs: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 1000,
          default: 20,
          description: 'The level must be stable this long before a change is reported. Default 20 ms.',
        }),
      ),
    },
    { additionalProperties: false, description },
  );

export const InputLineSchema = inputLine('A debounced GPIO input.');

export const ParityBitSchema = Type.Object(
  {
    bit: Type.Integer({
      minimum: 0,
      maximum: 63,
      description: 'Position of the parity bit, 0 = first bit sent.',
    }),
    type: Type.Union([Type.Literal('even'), Type.Literal('odd')], { description: 'Even or odd parity.' }),
    over: Type.Array(Type.Integer({ minimum: 0, maximum: 63 }), {
      minItems: 1,
      description: 'Positions of the bits this parity bit covers (not including itself).',
    }),
  },
  { additionalProperties: false },
);

export const CustomWiegandFormatSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 40, description: 'A name for logs, e.g. "acme-40".' }),
    bits: Type.Integer({ minimum: 9, maximum: 64, description: 'Frame length in bits.' }),
    payload: Type.Object(
      {
        from: Type.Integer({
          minimum: 0,
          maximum: 63,
          description: 'First payload bit (0 = first bit sent).',
        }),
        length: Type.Integer({ minimum: 1, maximum: 64, description: 'Number of payload bits.' }),
      },
      {
        additionalProperties: false,
        description: 'The bits that form the card value (hex, MSB first).',
      },
    ),
    parity: Type.Array(ParityBitSchema, { default: [], description: 'Parity checks; every one must pass.' }),
  },
  { additionalProperties: false, description: 'A site-specific Wiegand bit layout.' },
);

export const BUILTIN_WIEGAND_FORMATS = ['h10301', 'h10306', 'c1k35', 'h10304', 'c1k48'] as const;

const WiegandFormatsSchema = Type.Array(
  Type.Union([
    Type.Union(
      BUILTIN_WIEGAND_FORMATS.map((f) => Type.Literal(f)),
      { description: 'A built-in format.' },
    ),
    CustomWiegandFormatSchema,
  ]),
  {
    minItems: 1,
    default: [...BUILTIN_WIEGAND_FORMATS],
    description:
      "Accepted card formats: 'h10301' (26-bit), 'h10306' (34-bit), 'c1k35' (35-bit Corporate 1000), " +
      "'h10304' (37-bit), 'c1k48' (48-bit Corporate 1000), or a custom layout. Default: all built-in formats.",
  },
);

const Id = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  description: 'Identifier (letters, digits, . _ -), unique on the hub.',
});

export const WiegandReaderSchema = Type.Object(
  {
    id: Id,
    type: Type.Literal('wiegand', { description: 'A Wiegand card reader on two GPIO lines.' }),
    d0: Bcm('BCM number of the DATA0 line (green wire), through a 5 V to 3.3 V level shifter.'),
    d1: Bcm('BCM number of the DATA1 line (white wire), through a 5 V to 3.3 V level shifter.'),
    formats: Type.Optional(WiegandFormatsSchema),
    frameGapMs: Type.Optional(
      Type.Integer({
        minimum: 21,
        maximum: 500,
        default: 25,
        description:
          'Silence after the last bit that ends a frame. Must exceed the reader bit interval. Default 25.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const Pn532ReaderSchema = Type.Object(
  {
    id: Id,
    type: Type.Literal('pn532', { description: 'A PN532 NFC reader on a serial port (HSU mode).' }),
    path: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Serial device, e.g. /dev/serial0 (header UART) or /dev/ttyUSB0 (USB adapter).',
    }),
    baudRate: Type.Optional(
      Type.Integer({ minimum: 9600, maximum: 1_228_800, default: 115200, description: 'Default 115200.' }),
    ),
    pollMs: Type.Optional(
      Type.Integer({
        minimum: 20,
        maximum: 5000,
        default: 100,
        description: 'Pause between card polls. Default 100 ms.',
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 50,
        maximum: 5000,
        default: 1000,
        description:
          'A command without an answer in this time counts as an error and the reader is re-initialised.',
      }),
    ),
    emulated: Type.Optional(
      Type.Boolean({
        description:
          "Only with driver 'sim': true (the default there) puts a built-in PN532 emulator behind the reader; " +
          'false opens the real serial port at `path`, e.g. a USB-UART reader on a laptop while the GPIO lines stay simulated.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ReaderSchema = Type.Union([WiegandReaderSchema, Pn532ReaderSchema]);

export const WiegandKeypadSchema = Type.Object(
  {
    id: Id,
    type: Type.Literal('wiegand', { description: 'A Wiegand keypad (4-bit or 8-bit key bursts).' }),
    d0: Bcm('BCM number of the DATA0 line. May be shared with a reader in the same housing.'),
    d1: Bcm('BCM number of the DATA1 line. May be shared with a reader in the same housing.'),
    interDigitTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 500,
        maximum: 60_000,
        default: 5000,
        description: 'Digits typed and not followed by # within this time are discarded. Default 5000.',
      }),
    ),
    onTimeout: Type.Optional(
      Type.Union([Type.Literal('submit'), Type.Literal('discard')], {
        default: 'submit',
        description:
          "What the inter-digit timeout does with the digits typed so far: 'submit' them as a code (keypads " +
          "without a # key) or 'discard' them. Default 'submit'.",
      }),
    ),
    maxDigits: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 32, default: 12, description: 'Longer entries are discarded.' }),
    ),
    frameGapMs: Type.Optional(
      Type.Integer({ minimum: 21, maximum: 500, default: 25, description: 'Silence that ends a key burst.' }),
    ),
  },
  { additionalProperties: false },
);

/** The input lines a wired door may have, in the order they are listed and set up. */
export const DOOR_INPUTS = ['contact', 'rex', 'tamper', 'fire', 'doorbell'] as const;
export type DoorInputName = (typeof DOOR_INPUTS)[number];

export const WiredDoorSchema = Type.Object(
  {
    door: Id,
    lock: LockOutputSchema,
    contact: Type.Optional(inputLine('Door position switch (active = open).')),
    rex: Type.Optional(inputLine('Request-to-exit button (active = pressed).')),
    tamper: Type.Optional(inputLine('Enclosure tamper (active = tampered).')),
    fire: Type.Optional(inputLine('Fire-alarm release relay (active = release the door).')),
    doorbell: Type.Optional(
      inputLine('Doorbell button (active = pressed): recorded as door.doorbell and sent to flows.'),
    ),
    readers: Type.Optional(
      Type.Array(ReaderSchema, { default: [], description: 'Card readers on this door.' }),
    ),
    keypads: Type.Optional(
      Type.Array(WiegandKeypadSchema, { default: [], description: 'Keypads on this door.' }),
    ),
  },
  { additionalProperties: false, description: 'A door wired to the hub itself.' },
);

export const WiredDoorsSchema = Type.Array(WiredDoorSchema, {
  default: [],
  description: 'Doors wired straight to the hub (GPIO relay, inputs, Wiegand and PN532 readers).',
});

export const HardwareSettingsSchema = Type.Object(
  {
    driver: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('gpio'), Type.Literal('sim')], {
        default: 'auto',
        description:
          "'gpio': real GPIO (onoff, sysfs). 'sim': simulated lines and readers (laptop rehearsal). " +
          "'auto': gpio when /sys/class/gpio is writable, otherwise sim. Default 'auto'.",
      }),
    ),
    sysfsRoot: Type.Optional(
      Type.String({
        default: '/sys/class/gpio',
        description: 'Where the GPIO sysfs tree is, used to find each chip base. Default /sys/class/gpio.',
      }),
    ),
  },
  { additionalProperties: false },
);

/** The whole `hardware` section of the config: `{ driver, sysfsRoot, doors: [...] }`. */
export const HardwareSectionSchema = Type.Object(
  {
    driver: HardwareSettingsSchema.properties.driver,
    sysfsRoot: HardwareSettingsSchema.properties.sysfsRoot,
    doors: Type.Optional(WiredDoorsSchema),
  },
  { additionalProperties: false, description: 'GPIO driver and the doors wired to the hub.' },
);

export type LockOutputDef = Static<typeof LockOutputSchema>;
export type InputLineDef = Static<typeof InputLineSchema>;
export type CustomWiegandFormatDef = Static<typeof CustomWiegandFormatSchema>;
export type BuiltinWiegandFormat = (typeof BUILTIN_WIEGAND_FORMATS)[number];
export type WiegandReaderDef = Static<typeof WiegandReaderSchema>;
export type Pn532ReaderDef = Static<typeof Pn532ReaderSchema>;
export type ReaderDef = Static<typeof ReaderSchema>;
export type WiegandKeypadDef = Static<typeof WiegandKeypadSchema>;
export type WiredDoorDef = Static<typeof WiredDoorSchema>;
export type HardwareSettings = Static<typeof HardwareSettingsSchema>;
export type HardwareSection = Static<typeof HardwareSectionSchema>;

const wiredDoorsCheck = Compile(WiredDoorsSchema);
const settingsCheck = Compile(HardwareSettingsSchema);

export class HardwareConfigError extends Error {
  override readonly name = 'HardwareConfigError';
}

function describeErrors(errors: Iterable<{ instancePath: string; message: string }>, prefix: string): string {
  const lines: string[] = [];
  for (const e of errors) {
    lines.push(`  ${prefix}${e.instancePath || ''}: ${e.message}`);
    if (lines.length >= 10) break;
  }
  return lines.join('\n');
}

/** Validates wired door definitions, fills defaults, and checks what a schema cannot (no GPIO line used twice). */
export function parseWiredDoors(input: unknown): WiredDoorDef[] {
  const withDefaults = Value.Default(WiredDoorsSchema, Value.Clone(input ?? []));
  if (!wiredDoorsCheck.Check(withDefaults)) {
    throw new HardwareConfigError(
      `invalid hardware door config:\n${describeErrors(wiredDoorsCheck.Errors(withDefaults), 'hardware.doors')}`,
    );
  }
  const doors = withDefaults as WiredDoorDef[];
  checkLineUse(doors);
  return doors;
}

export function parseHardwareSettings(input: unknown): Required<HardwareSettings> {
  const withDefaults = Value.Default(HardwareSettingsSchema, Value.Clone(input ?? {}));
  if (!settingsCheck.Check(withDefaults)) {
    throw new HardwareConfigError(
      `invalid hardware config:\n${describeErrors(settingsCheck.Errors(withDefaults), 'hardware')}`,
    );
  }
  return withDefaults as Required<HardwareSettings>;
}

/** A line may appear once, except a reader and a keypad in one housing sharing the same D0/D1 pair. */
function checkLineUse(doors: WiredDoorDef[]): void {
  const owner = new Map<number, string>();
  const ids = new Set<string>();
  const doorIds = new Set<string>();
  const claim = (gpio: number, who: string, shareKey?: string) => {
    const key = shareKey ? `${who}|${shareKey}` : who;
    const prev = owner.get(gpio);
    if (prev !== undefined && !(shareKey && prev.endsWith(`|${shareKey}`))) {
      throw new HardwareConfigError(`GPIO ${gpio} is used twice: by ${prev.split('|')[0]} and by ${who}`);
    }
    owner.set(gpio, key);
  };
  for (const d of doors) {
    if (doorIds.has(d.door))
      throw new HardwareConfigError(`door "${d.door}" is listed twice in hardware.doors`);
    doorIds.add(d.door);
    claim(d.lock.gpio, `${d.door}.lock`);
    for (const name of DOOR_INPUTS) {
      const line = d[name];
      if (line) claim(line.gpio, `${d.door}.${name}`);
    }
    for (const r of [...(d.readers ?? []), ...(d.keypads ?? [])]) {
      if (ids.has(r.id)) throw new HardwareConfigError(`reader/keypad id "${r.id}" is used twice`);
      ids.add(r.id);
      if (r.type === 'wiegand') {
        if (r.d0 === r.d1) throw new HardwareConfigError(`${r.id}: d0 and d1 must be different lines`);
        const pair = `wiegand:${d.door}:${r.d0}:${r.d1}`;
        claim(r.d0, `${d.door}.${r.id}.d0`, pair);
        claim(r.d1, `${d.door}.${r.id}.d1`, pair);
      }
    }
    for (const r of d.readers ?? []) {
      if (r.type !== 'wiegand') continue;
      for (const f of r.formats ?? []) {
        if (typeof f === 'string') continue;
        const maxBit = Math.max(
          f.payload.from + f.payload.length - 1,
          ...f.parity.flatMap((p) => [p.bit, ...p.over]),
        );
        if (maxBit >= f.bits) {
          throw new HardwareConfigError(
            `${r.id}: custom format "${f.name}" refers to bit ${maxBit} of a ${f.bits}-bit frame`,
          );
        }
      }
    }
  }
}
