// A real Node-RED 4.1 for the flow tests, started as the hub's supervisor starts it (a child process with
// a generated settings.js and its own user dir), with the Gatehouse node package from flows/ and a
// `gatehouse` connection setting; flows are deployed through its admin API. Until the hub's own
// supervisor (hub/nodered) is merged, this is how the tests run Node-RED themselves.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from '../helpers/hub.js';

export const FLOWS_PACKAGE = path.join(ROOT, 'flows');
const RED_JS = path.join(ROOT, 'node_modules/node-red/red.js');
const ADMIN_ROOT = '/flows';

export interface GatehouseSetting {
  url: string;
  username: string;
  password: string;
  baseTopic?: string;
  ca?: string;
}

export interface NodeRed {
  /** `http://127.0.0.1:<port>` (admin API under /flows, http-in nodes under /). */
  origin: string;
  /** Every line Node-RED printed so far (stdout and stderr). */
  output: string[];
  /** POST /flows/flows (full deploy); resolves with the HTTP status. */
  deploy(nodes: unknown[]): Promise<number>;
  admin(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** A request to an http-in node of a deployed flow; the answer parsed as JSON when it is. */
  http(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }>;
  stop(): Promise<void>;
}

/** Starts Node-RED with `gatehouse` in its settings (omitted: not running under Gatehouse). */
export async function startNodeRed(gatehouse: GatehouseSetting | null): Promise<NodeRed> {
  const userDir = mkdtempSync(path.join(tmpdir(), 'gh-nodered-'));
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: 0,
    httpAdminRoot: ADMIN_ROOT,
    httpNodeRoot: '/',
    flowFile: 'flows.json',
    credentialSecret: 'flow-tests-only',
    nodesDir: [FLOWS_PACKAGE],
    editorTheme: { projects: { enabled: false }, tours: false },
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: 'info', metrics: false, audit: false } },
    ...(gatehouse ? { gatehouse } : {}),
  };
  const settingsFile = path.join(userDir, 'settings.js');
  writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  const child: ChildProcess = spawn(
    process.execPath,
    [RED_JS, '--userDir', userDir, '--settings', settingsFile],
    { cwd: userDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } },
  );
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Node-RED did not start within 90 s:\n${output.join('\n')}`)),
      90_000,
    );
    const onLine = (line: string) => {
      output.push(line);
      const m = /Server now running at http:\/\/127\.0\.0\.1:([0-9]+)\//.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`Node-RED exited before it listened:\n${output.join('\n')}`));
    });
  });
  const origin = `http://127.0.0.1:${port}`;

  async function request(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${origin}${url}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: response.status, json, text };
  }

  return {
    origin,
    output,
    deploy: async (nodes) =>
      (
        await request('POST', `${ADMIN_ROOT}/flows`, nodes, {
          'Node-RED-Deployment-Type': 'full',
          'Node-RED-API-Version': 'v1',
        })
      ).status,
    admin: (method, url, body) =>
      request(method, `${ADMIN_ROOT}${url}`, body, { accept: 'application/json' }),
    http: (method, url, body) => request(method, url, body),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(
  find: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  ms = 20_000,
  detail: () => string = () => '',
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const found = await find();
    if (found) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
