// deploy/systemd/gatehouse.service: `systemd-analyze verify` (Debian's systemd package) on the unit with its
// paths pointed at this checkout, so every line is checked and any message fails; the unit as shipped, where
// the only message allowed is that /usr/bin/node or /opt/gatehouse do not exist on this machine; and the
// settings issue #12 asks for.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, removeDir } from '../helpers/hub.js';
import { verifyUnit as verify } from './systemd-verify.js';

const UNIT_FILE = path.join(ROOT, 'deploy/systemd/gatehouse.service');
const unit = readFileSync(UNIT_FILE, 'utf8');
const dir = mkdtempSync(path.join(tmpdir(), 'gh-unit-'));
afterAll(() => removeDir(dir));

/** The unit with its installed paths replaced by ones that exist here (as install.sh's sed does). */
function unitFor(paths: { node: string; prefix: string; data: string; etc: string }): string {
  return unit
    .replaceAll('/usr/bin/node', paths.node)
    .replaceAll('/opt/gatehouse/current', paths.prefix)
    .replaceAll('/var/lib/gatehouse', paths.data)
    .replaceAll('/etc/gatehouse', paths.etc);
}

/** Every `Key=value` of the unit (repeated keys keep every value). */
function settings(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
  }
  return map;
}
const set = settings(unit);
const one = (key: string) => set.get(key)?.at(-1);

describe('deploy/systemd/gatehouse.service', () => {
  it('passes systemd-analyze verify without a single message (paths pointed at this checkout)', async () => {
    const file = path.join(dir, 'gatehouse.service');
    writeFileSync(file, unitFor({ node: process.execPath, prefix: ROOT, data: dir, etc: dir }));
    expect(await verify(file)).toEqual({ code: 0, output: '' });
  });

  it('as shipped, draws no message but "not found" for the installed paths', async () => {
    const file = path.join(dir, 'shipped', 'gatehouse.service');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, unit);
    const { output } = await verify(file);
    const other = output
      .split('\n')
      .filter(Boolean)
      .filter(
        (l) => !/(\/usr\/bin\/node|\/opt\/gatehouse).*(not executable|No such file or directory)/.test(l),
      );
    expect(other).toEqual([]);
  });

  it('verify does complain about a broken copy (the check can fail)', async () => {
    const file = path.join(dir, 'broken.service');
    writeFileSync(
      file,
      unitFor({ node: process.execPath, prefix: ROOT, data: dir, etc: dir }).replace(
        'WatchdogSec=30',
        'WatchdogSecs=30',
      ),
    );
    expect((await verify(file)).output).toMatch(/Unknown key/);
  });

  it('is Type=notify with a watchdog, restarts always, and stops within the hub stop budget', () => {
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('main');
    expect(Number(one('WatchdogSec'))).toBeGreaterThanOrEqual(10);
    expect(one('Restart')).toBe('always');
    // hub/main.ts exits at the latest FORCED_EXIT_MS after SIGTERM; systemd must not SIGKILL before that.
    const forced = /FORCED_EXIT_MS = ([\d_]+);/.exec(readFileSync(path.join(ROOT, 'hub/main.ts'), 'utf8'));
    const forcedS = Number(forced![1]!.replaceAll('_', '')) / 1000;
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(forcedS);
    expect(Number(one('TimeoutStopSec'))).toBeLessThanOrEqual(forcedS + 10);
    expect(one('ExecStart')).toBe(
      '/usr/bin/node --max-semi-space-size=4 /opt/gatehouse/current/dist/hub/main.js start',
    );
  });

  it('is hardened: read-only system, data dir writable, GPIO and serial devices only', () => {
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBe('/var/lib/gatehouse');
    expect(one('NoNewPrivileges')).toBe('true');
    expect(one('PrivateTmp')).toBe('true');
    expect(one('ProtectHome')).toBe('true');
    expect(one('DevicePolicy')).toBe('closed');
    expect(set.get('DeviceAllow')).toEqual(
      expect.arrayContaining(['char-gpiochip rw', 'char-ttyS rw', 'char-ttyAMA rw', 'char-ttyUSB rw']),
    );
    expect(one('SupplementaryGroups')).toBe('gpio dialout');
    expect(one('User')).toBe('gatehouse');
    // Writable /sys: the sysfs GPIO driver exports lines there.
    expect(set.has('ProtectKernelTunables')).toBe(false);
    // V8 compiles code at run time.
    expect(set.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('bounds memory for a 1 GB Pi (hub plus Node-RED)', () => {
    const mb = (v: string | undefined) => Number(/^(\d+)M$/.exec(v ?? '')?.[1]);
    expect(mb(one('MemoryHigh'))).toBeLessThan(mb(one('MemoryMax')));
    expect(mb(one('MemoryMax'))).toBeLessThanOrEqual(640);
    expect(mb(one('MemoryHigh'))).toBeGreaterThanOrEqual(256);
  });
});
