// Runs Node-RED as a child process and keeps it running: started without holding up the hub, probed over
// HTTP, killed when it stops answering (a busy loop in a flow), restarted with back-off when it exits (a
// crash, its heap limit), its log lines copied into the hub log within a budget. Whatever a flow does,
// it happens in another process: the hub's event loop, memory and door decisions are not affected.
// docs/architecture.md, "Node-RED".
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { TokenBucket } from '../budget.js';
import type { Logger } from '../logger.js';
import type { NodeRedConfig } from './config.js';
import {
  ADMIN_ROOT,
  type ChildLine,
  type GatehouseConnection,
  renderSettings,
  SECRET_ENV,
  type SettingsOptions,
  TOKEN_HEADER,
} from './settings.js';
import type { NodeRedTarget } from './target.js';

export type NodeRedState = 'disabled' | 'starting' | 'running' | 'unresponsive' | 'backoff' | 'stopped';

export type ExitReason =
  | 'exited'
  | 'crashed'
  | 'out-of-memory'
  | 'memory-limit'
  | 'unresponsive'
  | 'start-timeout'
  | 'spawn-failed'
  | 'stopped';

export interface NodeRedExit {
  at: number;
  code: number | null;
  signal: string | null;
  reason: ExitReason;
}

/** `status.nodeRed` (GET /api/v1/status, `gatehouse status`, the UI's health page, /metrics). */
export interface NodeRedStatus {
  state: NodeRedState;
  pid: number | null;
  port: number | null;
  rssBytes: number | null;
  heapLimitMb: number;
  restarts: number;
  /** When the current state began (epoch ms). */
  since: number;
  lastExit: NodeRedExit | null;
  editor: string;
}

export interface SupervisorOptions {
  config: NodeRedConfig;
  /** Node-RED's user dir (flows, credentials, context): `<dataDir>/node-red`. */
  userDir: string;
  nodesDirs: string[];
  /** Encrypts the flows' credentials file; derived from the hub keys so a restore brings it back. */
  credentialSecret: string;
  /** The `hub-node-red` account's secret for this hub run (hub/nodered/account.ts). */
  mqttPassword: string;
  connection: GatehouseConnection | null;
  logLevel: SettingsOptions['logLevel'];
  logger: Logger;
  now?: () => number;
}

/** The status of a hub that does not run Node-RED (`nodeRed.enabled: false`). */
export function disabledNodeRedStatus(config: NodeRedConfig, since: number): NodeRedStatus {
  return {
    state: 'disabled',
    pid: null,
    port: null,
    rssBytes: null,
    heapLimitMb: config.maxHeapMb,
    restarts: 0,
    since,
    lastExit: null,
    editor: `${ADMIN_ROOT}/`,
  };
}

const PROBE_TIMEOUT_MS = 2_000;
/** While starting, the first answer is looked for this often. */
const READY_POLL_MS = 500;
/** A child that ran this long before it stopped had settled: the next restart waits the shortest time. */
const STABLE_MS = 60_000;
/** After SIGTERM, the child gets this long to stop its flows before SIGKILL. */
const TERM_GRACE_MS = 3_000;
/** Longer log lines are cut; a line without end is cut here too, so the hub never buffers without bound. */
const MAX_LINE_CHARS = 2_000;
/** How often the count of dropped log lines is written, when there is one. */
const DROPPED_REPORT_MS = 10_000;
/** How often the child's resident memory is compared with nodeRed.maxRssMb. */
const RSS_CHECK_MS = 1_000;

const RED_JS = path.join(
  path.dirname(createRequire(import.meta.url).resolve('node-red/package.json')),
  'red.js',
);

export class NodeRedSupervisor {
  readonly #options: SupervisorOptions;
  readonly #config: NodeRedConfig;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #settingsFile: string;
  readonly #logBudget: TokenBucket;
  #state: NodeRedState = 'stopped';
  #since: number;
  #child: ChildProcess | null = null;
  /** Bumped at every spawn, so a late probe answer or exit of an old child changes nothing. */
  #generation = 0;
  #port: number | null = null;
  #token: string | null = null;
  #runningSince: number | null = null;
  #restarts = 0;
  #backoffMs: number;
  #failedProbes = 0;
  #killReason: ExitReason | null = null;
  #outOfMemory = false;
  #lastExit: NodeRedExit | null = null;
  #stopping = false;
  #exited: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #startDeadline: NodeJS.Timeout | null = null;
  #droppedLines = 0;
  #droppedTimer: NodeJS.Timeout | null = null;
  #rssTimer: NodeJS.Timeout | null = null;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#since = this.#now();
    this.#backoffMs = options.config.backoffMinMs;
    this.#settingsFile = path.join(options.userDir, 'gatehouse-settings.cjs');
    const rate = options.config.logLinesPerSecond;
    this.#logBudget = new TokenBucket(rate, rate * 10);
  }

  /** Spawns Node-RED and returns at once: the hub does not wait for it to answer. */
  start(): void {
    this.#stopping = false;
    mkdirSync(this.#options.userDir, { recursive: true, mode: 0o700 });
    if (this.#config.allowPaletteInstall) {
      this.#logger.warn(
        'nodeRed.allowPaletteInstall is on: the editor can install nodes from the internet, which run with the rights of the hub user',
      );
    }
    if (!this.#options.connection) {
      this.#logger.warn('no MQTT listener on loopback: the Gatehouse nodes in Node-RED cannot connect');
    }
    this.#droppedTimer = setInterval(() => this.#reportDropped(), DROPPED_REPORT_MS).unref();
    this.#rssTimer = setInterval(() => this.#checkMemory(), RSS_CHECK_MS).unref();
    this.#spawn();
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once the child has exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#clearTimers();
    if (this.#droppedTimer) clearInterval(this.#droppedTimer);
    if (this.#rssTimer) clearInterval(this.#rssTimer);
    this.#droppedTimer = null;
    this.#rssTimer = null;
    this.#reportDropped();
    const child = this.#child;
    if (child) {
      this.#killReason ??= 'stopped';
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
      await this.#exited;
      clearTimeout(killer);
    }
    this.#setState('stopped');
  }

  /** Where the proxy forwards /flows/ to; null unless Node-RED is running and answering. */
  target(): NodeRedTarget | null {
    if (this.#state !== 'running' || this.#port === null || this.#token === null) return null;
    return { origin: `http://127.0.0.1:${this.#port}`, header: TOKEN_HEADER, token: this.#token };
  }

  status(): NodeRedStatus {
    const pid = this.#child?.pid ?? null;
    return {
      state: this.#state,
      pid,
      port: this.#port,
      rssBytes: pid === null ? null : rssOf(pid),
      heapLimitMb: this.#config.maxHeapMb,
      restarts: this.#restarts,
      since: this.#since,
      lastExit: this.#lastExit,
      editor: `${ADMIN_ROOT}/`,
    };
  }

  #setState(state: NodeRedState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#since = this.#now();
  }

  #spawn(): void {
    const generation = ++this.#generation;
    this.#setState('starting');
    this.#port = null;
    this.#runningSince = null;
    this.#failedProbes = 0;
    this.#killReason = null;
    this.#outOfMemory = false;
    const token = randomBytes(32).toString('base64url');
    this.#token = token;
    const options = this.#options;
    writeFileSync(
      this.#settingsFile,
      renderSettings({
        userDir: options.userDir,
        port: this.#config.port,
        nodesDirs: options.nodesDirs,
        allowPaletteInstall: this.#config.allowPaletteInstall,
        logLevel: options.logLevel,
        connection: options.connection,
      }),
      { mode: 0o600 },
    );
    chmodSync(this.#settingsFile, 0o600);

    const child = spawn(
      process.execPath,
      [
        `--max-old-space-size=${this.#config.maxHeapMb}`,
        RED_JS,
        '--userDir',
        options.userDir,
        '--settings',
        this.#settingsFile,
      ],
      {
        cwd: options.userDir,
        env: childEnv({
          [SECRET_ENV.token]: token,
          [SECRET_ENV.credentialSecret]: options.credentialSecret,
          [SECRET_ENV.mqttPassword]: options.mqttPassword,
        }),
        // stdin stays open and unused: the child stops itself when it ends (the hub is gone).
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.#child = child;
    let exited!: () => void;
    this.#exited = new Promise((resolve) => {
      exited = resolve;
    });
    let gone = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (gone) return;
      gone = true;
      this.#onExit(generation, code, signal, spawnError);
      exited();
    };
    child.on('error', (err) => onGone(null, null, err));
    child.on('exit', (code, signal) => onGone(code, signal));
    child.stdin?.on('error', () => undefined); // EPIPE once the child is gone
    splitLines(child.stdout!, (line) => this.#onStdout(generation, line));
    splitLines(child.stderr!, (line) => this.#onStderr(line));
    this.#logger.info({ pid: child.pid, heapLimitMb: this.#config.maxHeapMb }, 'starting Node-RED');
    this.#startDeadline = setTimeout(() => {
      if (generation !== this.#generation || this.#state !== 'starting') return;
      this.#logger.warn({ seconds: this.#config.startTimeoutSeconds }, 'Node-RED did not start in time');
      this.#kill('start-timeout');
    }, this.#config.startTimeoutSeconds * 1000);
  }

  #onStdout(generation: number, line: string): void {
    const message = parseChildLine(line);
    if (message?.gh === 'listening') {
      // Once per child: a later line claiming another port (a node printing one) is not believed.
      if (generation !== this.#generation || this.#port !== null) return;
      this.#port = message.port;
      this.#scheduleProbe(generation, 0);
      return;
    }
    if (message?.gh === 'log') {
      this.#forward(message.level, message.msg, message.node);
      return;
    }
    this.#forward('info', line);
  }

  #onStderr(line: string): void {
    // V8's last words before it aborts at the heap limit.
    if (/heap out of memory|Reached heap limit/i.test(line)) this.#outOfMemory = true;
    this.#forward('warn', line);
  }

  #forward(level: string, text: string, node?: string): void {
    if (!this.#logBudget.take()) {
      this.#droppedLines++;
      return;
    }
    const msg = text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}…` : text;
    const fields = node ? { nodeRed: node } : {};
    switch (level) {
      case 'fatal':
      case 'error':
        this.#logger.error(fields, msg);
        break;
      case 'warn':
        this.#logger.warn(fields, msg);
        break;
      case 'info':
        this.#logger.info(fields, msg);
        break;
      default:
        this.#logger.debug(fields, msg);
    }
  }

  #reportDropped(): void {
    if (this.#droppedLines === 0) return;
    this.#logger.warn(
      { dropped: this.#droppedLines, perSecond: this.#config.logLinesPerSecond },
      'Node-RED log lines over budget were dropped',
    );
    this.#droppedLines = 0;
  }

  #scheduleProbe(generation: number, delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#probe(generation), delayMs);
  }

  async #probe(generation: number): Promise<void> {
    const port = this.#port;
    const token = this.#token;
    if (generation !== this.#generation || port === null || token === null || this.#stopping) return;
    const answered = await probe(port, token);
    if (generation !== this.#generation || this.#stopping || this.#child === null) return;
    if (answered) {
      this.#failedProbes = 0;
      if (this.#state === 'starting') {
        if (this.#startDeadline) clearTimeout(this.#startDeadline);
        this.#runningSince = this.#now();
        this.#logger.info({ pid: this.#child.pid, port }, 'Node-RED is running');
      } else if (this.#state === 'unresponsive') {
        this.#logger.info('Node-RED answers again');
      }
      this.#setState('running');
    } else if (this.#state === 'starting') {
      this.#scheduleProbe(generation, READY_POLL_MS);
      return;
    } else {
      this.#failedProbes++;
      this.#setState('unresponsive');
      this.#logger.warn(
        { failed: this.#failedProbes, of: this.#config.probeFailures },
        'Node-RED did not answer its health probe',
      );
      if (this.#failedProbes >= this.#config.probeFailures) {
        this.#kill('unresponsive');
        return;
      }
    }
    this.#scheduleProbe(generation, this.#config.probeIntervalSeconds * 1000);
  }

  /** Buffers live outside the V8 heap: a flow holding them would grow past --max-old-space-size. */
  #checkMemory(): void {
    const pid = this.#child?.pid;
    if (pid === undefined || this.#killReason !== null) return;
    const rss = rssOf(pid);
    if (rss === null || rss <= this.#config.maxRssMb * 1024 * 1024) return;
    this.#logger.warn({ rssBytes: rss, maxRssMb: this.#config.maxRssMb }, 'Node-RED uses too much memory');
    this.#kill('memory-limit');
  }

  #kill(reason: ExitReason): void {
    this.#killReason = reason;
    this.#child?.kill('SIGKILL');
  }

  #onExit(generation: number, code: number | null, signal: string | null, spawnError?: Error): void {
    if (generation !== this.#generation) return;
    this.#clearTimers();
    const reason: ExitReason =
      this.#killReason ??
      (spawnError
        ? 'spawn-failed'
        : this.#outOfMemory
          ? 'out-of-memory'
          : code === 0 && signal === null
            ? 'exited'
            : 'crashed');
    this.#lastExit = { at: this.#now(), code, signal, reason };
    const ranFor = this.#runningSince === null ? 0 : this.#now() - this.#runningSince;
    this.#child = null;
    this.#port = null;
    this.#token = null;
    this.#runningSince = null;
    if (this.#stopping) {
      this.#logger.info({ code, signal }, 'Node-RED stopped');
      this.#setState('stopped');
      return;
    }
    if (ranFor >= STABLE_MS) this.#backoffMs = this.#config.backoffMinMs;
    const delayMs = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#config.backoffMaxMs);
    this.#restarts++;
    this.#logger.warn(
      { code, signal, reason, restartInMs: delayMs, ...(spawnError ? { err: spawnError } : {}) },
      'Node-RED stopped; restarting it',
    );
    this.#setState('backoff');
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#stopping) this.#spawn();
    }, delayMs);
  }

  #clearTimers(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#startDeadline) clearTimeout(this.#startDeadline);
    this.#timer = null;
    this.#startDeadline = null;
  }
}

/** The hub's environment without its own settings (GATEHOUSE_CLOUD_TOKEN…), plus the child's secrets. */
function childEnv(secrets: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('GATEHOUSE_') && !name.startsWith('GH_NR_')) env[name] = value;
  }
  return { ...env, ...secrets };
}

function parseChildLine(line: string): ChildLine | null {
  if (!line.startsWith('{"gh":')) return null;
  try {
    const value = JSON.parse(line) as Partial<Record<string, unknown>>;
    if (value.gh === 'listening' && Number.isInteger(value.port) && (value.port as number) > 0) {
      return { gh: 'listening', port: value.port as number };
    }
    if (value.gh === 'log' && typeof value.msg === 'string' && typeof value.level === 'string') {
      return {
        gh: 'log',
        level: value.level,
        msg: value.msg,
        ...(typeof value.node === 'string' ? { node: value.node } : {}),
      };
    }
  } catch {
    // not one of ours: forwarded as text
  }
  return null;
}

/** Calls `onLine` per line; a line longer than MAX_LINE_CHARS is cut there and the rest of it dropped. */
function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  let skipping = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf('\n', start);
      const piece = chunk.slice(start, end === -1 ? undefined : end);
      if (!skipping) pending += piece.slice(0, MAX_LINE_CHARS + 1 - pending.length);
      if (end === -1) {
        if (pending.length > MAX_LINE_CHARS) {
          onLine(pending);
          pending = '';
          skipping = true;
        }
        return;
      }
      if (!skipping && pending.trim() !== '') onLine(pending.replace(/\r$/, ''));
      pending = '';
      skipping = false;
      start = end + 1;
    }
  });
}

/** GET of the admin root with the token; true for a 200 within the timeout. */
function probe(port: number, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: `${ADMIN_ROOT}/`,
        headers: { [TOKEN_HEADER]: token },
        timeout: PROBE_TIMEOUT_MS,
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Resident memory of a process (Linux /proc); null elsewhere or when it is gone. */
function rssOf(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}
