// The hub as a real child process for the benchmark, watched from outside the way an installer would:
// its log output is counted (bytes and lines, not parsed after start), its memory is sampled from
// /proc, its disk writes are read from /proc/<pid>/io, and an exit we did not ask for is a crash.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Store } from '../hub/store/store.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * The compiled hub: next to this file in dist/, or dist/hub/main.js when this file runs from source
 * (vitest runs the fault scenarios from source; they still start the compiled hub).
 */
export const HUB_MAIN =
  path.basename(path.dirname(here)) === 'dist'
    ? path.join(here, '../hub/main.js')
    : path.join(here, '../dist/hub/main.js');
const MAIN = HUB_MAIN;
/** Keep in step with package.json `start` and bench/run.ts. */
const DEPLOYED_NODE_FLAGS = ['--max-semi-space-size=4'];
const READY_TIMEOUT_MS = 60_000;
/** The last error lines kept for the report (a crash usually explains itself in one of them). */
const KEEP_ERROR_LINES = 5;
/** SIGKILL after this; the hub's own shutdown deadline is 10 s, the benchmark's goal 5 s. */
export const STOP_KILL_AFTER_MS = 8000;

export interface HubExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the hub exited before we sent SIGTERM: a crash. */
  unexpected: boolean;
}

export interface HubProcess {
  child: ChildProcess;
  pid: number;
  mqttPort: number;
  /** The plain-HTTP port on 127.0.0.1 (the API and the web UI). */
  httpPort: number;
  /** Bytes and lines the hub wrote to stdout + stderr since it was spawned. */
  log(): { bytes: number; lines: number; errorLines: number; fatalLines: number };
  /** The last few error/fatal log lines and stderr text, shortened. */
  lastErrors(): string[];
  /** Set once the process has exited. */
  exit(): HubExit | null;
  exited: Promise<HubExit>;
  /** SIGTERM, then SIGKILL if it is still running after `killAfterMs`. */
  stop(killAfterMs?: number): Promise<{ shutdownMs: number | null; code: number | null; killed: boolean }>;
}

/** A bench hub's environment: its own data dir, free ports on loopback, no simulated door. */
export function benchHubEnv(dataDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GATEHOUSE_DATA: dataDir,
    GATEHOUSE_LOG_LEVEL: 'info',
    GATEHOUSE_SIMULATION_DOOR: '',
    GATEHOUSE_MQTT_TCP_PORT: '0',
    GATEHOUSE_MQTT_TLS_PORT: '0',
    GATEHOUSE_MQTT_TLS_HOST: '127.0.0.1',
    GATEHOUSE_HTTP_HTTP_PORT: '0',
    GATEHOUSE_HTTP_HTTPS_PORT: '0',
    GATEHOUSE_HTTP_HTTPS_HOST: '127.0.0.1',
    GATEHOUSE_NODE_RED_ENABLED: 'false', // measured on its own (bench/nodered.ts turns it on)
  };
}

export async function startHubProcess(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<HubProcess> {
  const nodeArgs = [
    ...DEPLOYED_NODE_FLAGS,
    ...(process.env.BENCH_HUB_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const child = spawn(process.execPath, [...nodeArgs, MAIN, 'start'], {
    env: { ...benchHubEnv(dataDir), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let bytes = 0;
  let lines = 0;
  let errorLines = 0;
  let fatalLines = 0;
  const errors: string[] = [];
  const keepError = (text: string) => {
    errors.push(text.slice(0, 300));
    if (errors.length > KEEP_ERROR_LINES) errors.shift();
  };
  let exitInfo: HubExit | null = null;
  let stopRequested = false;
  const exited = new Promise<HubExit>((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal, unexpected: !stopRequested };
      resolve(exitInfo);
    });
  });

  // Until "deciding" the lines are parsed; after that they are only counted (a flood can log MB/s).
  let pending = '';
  let onReady: ((entry: Record<string, unknown>) => void) | null = null;
  const countLines = (chunk: Buffer) => {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    countLines(chunk);
    const text = chunk.toString('utf8');
    // pino levels: 50 error, 60 fatal.
    if (text.includes('"level":50') || text.includes('"level":60')) {
      for (const line of text.split('\n')) {
        if (line.includes('"level":50') || line.includes('"level":60')) {
          errorLines++;
          if (line.includes('"level":60')) fatalLines++;
          keepError(line);
        }
      }
    }
    if (onReady === null) return;
    pending += text;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'deciding') onReady?.(entry);
      } catch {
        // not a JSON line
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    countLines(chunk);
    keepError(`stderr: ${chunk.toString('utf8').trim()}`);
  });

  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('hub did not log "deciding" within 60 s')),
      READY_TIMEOUT_MS,
    );
    onReady = (entry) => {
      clearTimeout(timer);
      resolve(entry);
    };
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`hub exited during start (code ${e.code}): ${errors.join(' | ')}`));
    });
  });
  onReady = null;
  pending = '';

  return {
    child,
    pid: child.pid!,
    mqttPort: (ready.mqtt as { tcp: number }).tcp,
    httpPort: (ready.http as { http: number }).http,
    log: () => ({ bytes, lines, errorLines, fatalLines }),
    lastErrors: () => [...errors],
    exit: () => exitInfo,
    exited,
    async stop(killAfterMs = STOP_KILL_AFTER_MS) {
      if (exitInfo) return { shutdownMs: null, code: exitInfo.code, killed: false };
      stopRequested = true;
      const started = performance.now();
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        exited.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), killAfterMs);
        }),
      ]);
      clearTimeout(timer);
      if (done)
        return { shutdownMs: Math.round(performance.now() - started), code: exitInfo!.code, killed: false };
      child.kill('SIGKILL');
      await exited;
      return { shutdownMs: null, code: null, killed: true };
    },
  };
}

function statusField(pid: number, field: string): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
    return Number.isFinite(kb) ? Math.round((kb / 1024) * 10) / 10 : null;
  } catch {
    return null; // the process is gone
  }
}

/** Samples VmRSS every `everyMs` and keeps the peak; `onSample` may stop a run that eats the machine. */
export class RssSampler {
  peakMiB = 0;
  lastMiB = 0;
  samples = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number, everyMs = 100, onSample?: (mib: number) => void) {
    const sample = () => {
      const mib = statusField(pid, 'VmRSS');
      if (mib === null) return;
      this.samples++;
      this.lastMiB = mib;
      if (mib > this.peakMiB) this.peakMiB = mib;
      onSample?.(mib);
    };
    sample();
    this.#timer = setInterval(sample, everyMs);
  }

  /** Peak since the last reset (e.g. per phase). */
  resetPeak(): void {
    this.peakMiB = this.lastMiB;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

export function rssMiB(pid: number): number | null {
  return statusField(pid, 'VmRSS');
}

/**
 * Bytes the process caused to be written to storage (`write_bytes`: counted when pages are dirtied,
 * so it includes the SQLite WAL, checkpoints and the event journal, but not pipes or sockets).
 */
export function diskWriteBytes(pid: number): number | null {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const value = /write_bytes:\s+(\d+)/.exec(io)?.[1];
    return value === undefined ? null : Number(value);
  } catch {
    return null;
  }
}

/** CPU time (user + system) the process has used, in seconds; null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux the hub runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Sum of file sizes under `dir` (the data dir's growth; a reused WAL does not grow, see diskWriteBytes). */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

/**
 * For bench devices that stand for many readers each (one socket carrying a building's peak): a busy
 * controller's credential budget. The hub-wide bound on unanswered presentations stays at its default.
 */
export const BUSY_CONTROLLER_BUDGET: NodeJS.ProcessEnv = {
  GATEHOUSE_MQTT_LIMITS_CREDENTIALS_PER_SECOND: '5000',
  GATEHOUSE_MQTT_LIMITS_CREDENTIAL_BURST: '5000',
  GATEHOUSE_MQTT_LIMITS_MAX_UNANSWERED_PER_DEVICE: '256',
};

/** The same budget as config (`mqtt.limits`), for benches that build the hub or the broker in-process. */
export const BUSY_CONTROLLER_LIMITS = {
  credentialsPerSecond: 5000,
  credentialBurst: 5000,
  maxUnansweredPerDevice: 256,
};

/**
 * Adds `count` residents with one card each (`04000000`, `04000001`, … in hex), in durable batches;
 * every tenth is a member of the existing `residents` group. Returns every card and the granted ones.
 */
export function seedResidents(store: Store, count: number): { cards: string[]; granted: string[] } {
  const cards: string[] = [];
  const granted: string[] = [];
  const batch = 5000;
  for (let start = 0; start < count; start += batch) {
    store.transaction(() => {
      for (let i = start; i < Math.min(start + batch, count); i++) {
        const personId = `p${i}`;
        store.people.add({ id: personId, name: `Resident ${i}`, kind: 'resident' });
        const hex = (0x04000000 + i).toString(16).toUpperCase().padStart(8, '0');
        store.credentials.addCard(personId, hex);
        if (i % 10 === 0) {
          store.groups.addMember('residents', personId);
          granted.push(hex);
        }
        cards.push(hex);
      }
    });
  }
  return { cards, granted };
}
