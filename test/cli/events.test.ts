// `gatehouse events list --type`: a type and every type continuing it after a dot or an underscore
// (docs/cli.md); a trailing * is a raw prefix.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openHubStore } from '../../hub/open-store.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';
import { runIn } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = tempDataDir();
  const opened = openHubStore(dir);
  try {
    for (const type of [
      'alarm.keypad_disabled',
      'alarm.keypad_locked_out',
      'alarm.forced',
      'alarm.keypadx',
      'decision.denied',
    ]) {
      opened.store.events.appendDurable({
        type,
        doorId: 'front',
        personId: null,
        credentialId: null,
        data: {},
      });
    }
  } finally {
    opened.close();
  }
});
afterEach(() => removeDir(dir));

async function types(filter: string): Promise<string[]> {
  const res = await runIn(dir, ['--json', 'events', 'list', '--type', filter]);
  expect(res.code).toBe(0);
  return (JSON.parse(res.stdout) as Array<{ type: string }>).map((e) => e.type).sort();
}

describe('events list --type', () => {
  it('alarm.keypad finds the keypad alarms (the prefix ends at an underscore), not alarm.keypadx', async () => {
    expect(await types('alarm.keypad')).toEqual(['alarm.keypad_disabled', 'alarm.keypad_locked_out']);
  });

  it('alarm finds every alarm; a trailing * is a raw prefix', async () => {
    expect(await types('alarm')).toHaveLength(4);
    expect(await types('alarm.keypad*')).toEqual([
      'alarm.keypad_disabled',
      'alarm.keypad_locked_out',
      'alarm.keypadx',
    ]);
    expect(await types('alarm.for')).toEqual([]);
  });
});
