// Logic the issue found written two or three times (issue #9): each now has one home, and a second copy
// fails here. Places outside this change's reach are listed with who moves them; delete an entry when its
// file calls the home instead (the test says so when an entry has gone stale).
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './source.js';

interface OneHome {
  what: string;
  /** What a copy looks like in the source. */
  pattern: RegExp;
  home: string;
  /** Files that still hold a copy, and who removes it. */
  notYet: Record<string, string>;
}

const RULES: OneHome[] = [
  {
    what: 'shortening untrusted text for a message (`shorten`)',
    pattern: /\.slice\(0, [\w.]+\)\}…`/,
    home: 'hub/text.ts',
    notYet: {},
  },
  {
    what: 'the printable-ASCII filter for ids in messages',
    pattern: /\[\^\\x20-\\x7e\]/,
    home: 'hub/text.ts',
    notYet: {},
  },
  {
    what: 'card masking',
    pattern: /\.slice\(-4\)/,
    home: 'hub/logger.ts',
    notYet: {},
  },
  {
    what: 'time-zone checks and wall-clock conversion',
    pattern: /new Intl\.DateTimeFormat\(|function isValidTimeZone/,
    home: 'hub/access/localtime.ts',
    notYet: {},
  },
  {
    what: 'the secret-file permission check',
    pattern: /mode & 0o077/,
    home: 'hub/secret-file.ts',
    notYet: {},
  },
  {
    what: 'a token bucket per key (rate budget per address, user or door)',
    pattern: /getOrCreate\(\s*[\w.]+,\s*\(\)\s*=>\s*new TokenBucket\(/,
    home: 'hub/budget.ts',
    notYet: {},
  },
];

const FILES = sourceFiles('hub', 'adapters', 'deploy');

describe('one home for each piece of shared logic', () => {
  for (const rule of RULES) {
    it(rule.what, () => {
      const holders = FILES.filter((file) => rule.pattern.test(file.text)).map((file) => file.path);
      expect(holders, `${rule.what} lives in ${rule.home}`).toContain(rule.home);
      const copies = holders.filter((path) => path !== rule.home && !(path in rule.notYet));
      expect(copies, `copies of ${rule.what}: call ${rule.home} instead`).toEqual([]);
      const stale = Object.keys(rule.notYet).filter((path) => !holders.includes(path));
      expect(stale, 'these files no longer hold a copy: delete their notYet entries').toEqual([]);
    });
  }
});
