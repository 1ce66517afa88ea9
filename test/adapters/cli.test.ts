// `gatehouse hw ...` as an installer would run it, on the simulator.
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { registerHardwareCommands } from '../../adapters/cli.js';
import { BUILTIN_FORMATS, encodeCard } from '../../adapters/wiegand/formats.js';

const CONFIG = {
  hardware: { driver: 'sim' },
  doors: [
    {
      door: 'front',
      lock: { gpio: 17, activeLow: true },
      contact: { gpio: 27 },
      readers: [{ id: 'front-nfc', type: 'pn532', path: '/dev/serial0', pollMs: 20 }],
    },
  ],
};

async function run(args: string[], config: unknown = CONFIG) {
  const out: string[] = [];
  const err: string[] = [];
  const program = new Command('gatehouse').exitOverride();
  registerHardwareCommands(program, async () => config as { hardware?: unknown; doors?: unknown }, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  await program.parseAsync(['node', 'gatehouse', ...args]);
  return { out, err, exitCode: process.exitCode };
}

describe('gatehouse hw', () => {
  afterEach(() => {
    process.exitCode = 0;
  });

  it('lists the driver and every configured line', async () => {
    const { out } = await run(['hw', 'list', '--sim']);
    expect(out[0]).toBe('driver: sim');
    expect(out).toContain('  lock     BCM 17 active-low, fail-secure');
    expect(out.some((l) => l.includes('front-nfc: pn532 on /dev/serial0 at 115200 baud'))).toBe(true);
  });

  it('unlocks the relay for the given time and locks it again, for strikes and maglocks', async () => {
    const { out, err } = await run(['hw', 'relay', 'front', '--ms', '50', '--sim']);
    expect(err).toEqual([]);
    expect(out.map((l) => l.slice(13))).toEqual([
      'front: relay on BCM 17 is released (locked)',
      'front: relay ENERGISED (unlocked) for 50 ms — listen for the click',
      'front: relay released (locked again)',
    ]);
    const maglock = { hardware: {}, doors: [{ door: 'gate', lock: { gpio: 16, failMode: 'safe' } }] };
    const safe = await run(['hw', 'relay', 'gate', '--ms', '50', '--sim'], maglock);
    expect(safe.out.map((l) => l.slice(13))).toEqual([
      'gate: relay on BCM 16 is energised (locked)',
      'gate: relay RELEASED (unlocked) for 50 ms — listen for the click',
      'gate: relay energised (locked again)',
    ]);
  });

  it('reads a card presented to the emulated PN532 and prints its full value', async () => {
    const { out } = await run([
      'hw',
      'read-card',
      'front',
      '--sim',
      '--present',
      '04a2b3c4d5e6f7',
      '--timeout',
      '5',
    ]);
    expect(out.at(-1)).toBe('front-nfc: card 04A2B3C4D5E6F7');
  });

  it('decodes a Wiegand bit string and rejects one with bad parity', async () => {
    const bits = encodeCard('7B1A2C', BUILTIN_FORMATS.h10301).join('');
    expect((await run(['hw', 'decode', bits])).out).toEqual(['h10301: card 7B1A2C (26 bits, parity ok)']);
    const bad = `${bits.slice(0, 25)}${bits[25] === '1' ? '0' : '1'}`;
    const rejected = await run(['hw', 'decode', bad]);
    expect(rejected.out).toEqual(['rejected: parity check failed']);
    expect(rejected.exitCode).toBe(2);
  });

  it('names the problem for an unknown door or a bad config, without a stack trace', async () => {
    const unknown = await run(['hw', 'relay', 'back', '--sim']);
    expect(unknown.err).toEqual(['error: no wired door "back" in hardware config (wired doors: front)']);
    expect(unknown.exitCode).toBe(1);
    const bad = await run(['hw', 'list', '--sim'], {
      hardware: {},
      doors: [{ door: 'x', lock: { gpio: 'seventeen' } }],
    });
    expect(bad.err[0]).toMatch(/^error: invalid hardware door config:\n {2}hardware\.doors\/0\/lock\/gpio/);
  });
});
