// What docs/cli.md promises, tried as an installer would (issue #9, "Docs that drifted from the code").
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../helpers/hub.js';
import { succeedIn } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = tempDataDir();
});
afterEach(() => removeDir(dir));

const ok = (args: string[], stdin?: string) => succeedIn(dir, args, stdin);

describe('docs/cli.md, tried', () => {
  it('person add "Plumber" --kind guest prints the id the next command uses', async () => {
    expect(await ok(['person', 'add', 'Plumber', '--kind', 'guest'])).toBe(
      "person 'plumber' added (guest: Plumber)",
    );
    expect(await ok(['credential', 'add', 'plumber', '--card', '04:A2:2B:1C'])).toMatch(
      /^credential '[^']+' added for 'plumber' \(card/,
    );
    expect(await ok(['person', 'add', 'Plumber', '--kind', 'guest'])).toBe(
      "person 'plumber-2' added (guest: Plumber)",
    );
  });

  it('mobile list shows a key as revoked after person logout-everywhere', async () => {
    await ok(['door', 'add', 'front']);
    await ok(['person', 'add', 'Ada Lovelace', '--id', 'ada']);
    const phone = path.join(dir, 'ada-phone.json');
    await ok(['phone', 'init', phone]);
    await ok(['mobile', 'issue', 'ada', '--phone-key', phone, '--door', 'front']);
    expect(await ok(['mobile', 'list', '--person', 'ada'])).toMatch(/ active$/);
    expect(await ok(['person', 'logout-everywhere', 'ada'])).toMatch(/key epoch is now 1; 1 revoked/);
    const listed = await ok(['mobile', 'list', '--person', 'ada']);
    expect(listed).toMatch(/REVOKED/);
    expect(listed).not.toMatch(/active/);
  });
});
