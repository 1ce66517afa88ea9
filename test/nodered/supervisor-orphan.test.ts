// A hub killed with SIGKILL cannot stop its children: Node-RED notices (its stdin, held by the hub, ends)
// and stops by itself, so no orphan keeps running flows with the hub's account.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../helpers/hub.js';

const dir = tempDataDir();
let hubProcess: ChildProcess | null = null;
let nodeRedPid: number | null = null;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

afterAll(() => {
  hubProcess?.kill('SIGKILL');
  if (nodeRedPid !== null && alive(nodeRedPid)) process.kill(nodeRedPid, 'SIGKILL');
  removeDir(dir);
});

it('Node-RED stops by itself when the hub is killed with SIGKILL', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fixtures/hub-with-node-red.ts', import.meta.url)), dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  hubProcess = child;
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Node-RED did not run within 90 s')), 90_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{"nodeRedPid"')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { nodeRedPid: number }).nodeRedPid);
    });
    child.once('exit', (code) => reject(new Error(`hub exited with ${code}`)));
  });
  nodeRedPid = pid;
  expect(alive(pid)).toBe(true);

  child.kill('SIGKILL');
  const until = Date.now() + 20_000;
  while (alive(pid) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 200));
  expect(alive(pid)).toBe(false);
}, 120_000);
