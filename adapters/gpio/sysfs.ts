// Finds the sysfs line number for a BCM GPIO number. Raspberry Pi OS kernels 6.6+ number sysfs lines from the
// chip's base (e.g. 512 + BCM on a Pi 4, 571 + BCM on a Pi 5), so installers write BCM numbers and we add the base.
import { constants } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEFAULT_SYSFS_ROOT = '/sys/class/gpio';

/** Labels of the chips that carry the 40-pin header's BCM lines (Pi 1–4, Pi 5). */
export const PI_GPIO_LABELS = ['pinctrl-bcm2711', 'pinctrl-bcm2835', 'pinctrl-rp1'] as const;

export interface GpioChip {
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

export class GpioSetupError extends Error {
  override readonly name = 'GpioSetupError';
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(`${message}\n  fix: ${fix}`);
    this.fix = fix;
  }
}

async function readTrimmed(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

export async function listChips(sysfsRoot = DEFAULT_SYSFS_ROOT): Promise<GpioChip[]> {
  let entries: string[];
  try {
    entries = await readdir(sysfsRoot);
  } catch (err) {
    throw explainFsError(err, sysfsRoot);
  }
  const chips: GpioChip[] = [];
  for (const name of entries.filter((e) => /^gpiochip\d+$/.test(e)).sort()) {
    const dir = join(sysfsRoot, name);
    try {
      const base = Number.parseInt(await readTrimmed(join(dir, 'base')), 10);
      const ngpio = Number.parseInt(await readTrimmed(join(dir, 'ngpio')), 10);
      const label = await readTrimmed(join(dir, 'label'));
      if (Number.isInteger(base) && Number.isInteger(ngpio)) chips.push({ name, base, ngpio, label });
    } catch {
      // A chip we cannot read is not the header chip; keep looking.
    }
  }
  return chips;
}

/** The chip that carries the header's BCM lines. */
export async function findHeaderChip(sysfsRoot = DEFAULT_SYSFS_ROOT): Promise<GpioChip> {
  const chips = await listChips(sysfsRoot);
  for (const label of PI_GPIO_LABELS) {
    const chip = chips.find((c) => c.label === label);
    if (chip) return chip;
  }
  const found = chips.map((c) => `${c.name} (${c.label}, base ${c.base})`).join(', ') || 'none';
  throw new GpioSetupError(
    `no Raspberry Pi GPIO chip under ${sysfsRoot} (looked for ${PI_GPIO_LABELS.join(', ')}; found: ${found})`,
    'this is not a Raspberry Pi or its GPIO driver is not loaded; use `hardware.driver: sim` to rehearse on this machine',
  );
}

/** BCM number → sysfs line number (what onoff's `new Gpio(n)` needs). */
export async function resolveSysfsLine(bcm: number, sysfsRoot = DEFAULT_SYSFS_ROOT): Promise<number> {
  const chip = await findHeaderChip(sysfsRoot);
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= chip.ngpio) {
    throw new GpioSetupError(
      `BCM ${bcm} does not exist on ${chip.label} (lines 0–${chip.ngpio - 1})`,
      'use the BCM number (GPIOxx in `pinout`), not the physical header pin number',
    );
  }
  return chip.base + bcm;
}

/** True when this process can export lines (the `auto` driver picks GPIO only then). */
export async function gpioAccessible(sysfsRoot = DEFAULT_SYSFS_ROOT): Promise<boolean> {
  try {
    await access(join(sysfsRoot, 'export'), constants.W_OK);
    await findHeaderChip(sysfsRoot);
    return true;
  } catch {
    return false;
  }
}

/** Throws an error that names the fix when lines cannot be exported. */
export async function assertGpioAccess(sysfsRoot = DEFAULT_SYSFS_ROOT): Promise<void> {
  try {
    await access(join(sysfsRoot, 'export'), constants.W_OK);
  } catch (err) {
    throw explainFsError(err, join(sysfsRoot, 'export'));
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : undefined;
}

/** Maps errno codes from sysfs and onoff to a message an installer can act on. */
export function explainFsError(err: unknown, path: string, bcm?: number): GpioSetupError {
  const code = errorCode(err);
  const what = bcm === undefined ? path : `GPIO BCM ${bcm} (${path})`;
  switch (code) {
    case 'ENOENT':
      return new GpioSetupError(
        `${what}: not found — this kernel exposes no sysfs GPIO here`,
        'on a Pi check `ls /sys/class/gpio` (needs CONFIG_GPIO_SYSFS, present in Raspberry Pi OS); ' +
          'in Docker bind-mount /sys; on a laptop use `hardware.driver: sim`',
      );
    case 'EACCES':
    case 'EPERM':
      return new GpioSetupError(
        `${what}: permission denied`,
        'add the service user to the gpio group: `sudo usermod -aG gpio gatehouse` and restart the service ' +
          '(log out and back in for an interactive shell)',
      );
    case 'EBUSY':
      return new GpioSetupError(
        `${what}: line is busy`,
        'another program or a kernel overlay (1-wire, SPI, I2C, UART) owns this pin; free it in /boot/firmware/config.txt or pick another pin',
      );
    case 'EINVAL':
      return new GpioSetupError(
        `${what}: the kernel rejected the line number`,
        'the sysfs base was not applied; check `cat /sys/class/gpio/gpiochip*/base` and that hardware.sysfsRoot is right',
      );
    default:
      return new GpioSetupError(
        `${what}: ${err instanceof Error ? err.message : String(err)}`,
        'run `npx gatehouse hw list` to check the GPIO setup',
      );
  }
}
