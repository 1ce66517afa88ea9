// Staff actions during the day, done the way staff do them: the hub's own CLI (`gatehouse …`), run
// against the data dir while the hub runs. The running hub applies them at the next presentation.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const HUB_MAIN = path.join(here, '../hub/main.js');
const CLI_TIMEOUT_MS = 60_000;

/** Runs `gatehouse --json <args>` on `dataDir`; resolves with the parsed JSON output (or the text). */
export function gatehouse(dataDir: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [HUB_MAIN, '--json', ...args],
      {
        env: { ...process.env, GATEHOUSE_DATA: dataDir, GATEHOUSE_CONFIG: path.join(dataDir, 'config.yaml') },
        timeout: CLI_TIMEOUT_MS,
        maxBuffer: 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`gatehouse ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout) as unknown);
        } catch {
          resolve(stdout.trim());
        }
      },
    );
  });
}

export async function revokeCredential(dataDir: string, credentialId: string): Promise<void> {
  await gatehouse(dataDir, ['credential', 'revoke', credentialId, '--reason', 'card reported lost']);
}

export async function logoutEverywhere(dataDir: string, personId: string): Promise<void> {
  await gatehouse(dataDir, ['person', 'logout-everywhere', personId]);
}

/** Issues an offline doorcode with `gatehouse code issue`; returns its digits. */
export async function issueCode(
  dataDir: string,
  who: { person: string } | { guest: string },
  door: string,
  kind: 'daily' | 'once',
): Promise<string> {
  const whoArgs = 'person' in who ? ['--person', who.person] : ['--guest', who.guest];
  const out = (await gatehouse(dataDir, ['code', 'issue', ...whoArgs, '--door', door, `--${kind}`])) as {
    digits?: unknown;
  };
  if (typeof out?.digits !== 'string') throw new Error('gatehouse code issue printed no digits');
  return out.digits;
}
