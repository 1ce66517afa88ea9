// `systemd-analyze verify` on a unit file (Debian's systemd package; scripts/test.sh installs it).
import { execFile } from 'node:child_process';

export function verifyUnit(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', '--man=no', file], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}
