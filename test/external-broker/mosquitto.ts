// A real mosquitto 2 (Debian's package) with the dynamic-security plugin, for the external-broker tests
// and bench: its own temp dir, a port found free by binding first (mosquitto cannot listen on port 0),
// killed by its pid. The dynsec file survives a restart, like a broker's on disk.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export function mosquittoAvailable(): boolean {
  return existsSync(MOSQUITTO) && existsSync(DYNSEC_PLUGIN);
}

/** A TCP port free right now (bound and released), for a program that cannot take port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface MosquittoOptions {
  dir: string;
  adminUser: string;
  adminPassword: string;
  /** TLS listener files instead of plain TCP. */
  tls?: { certFile: string; keyFile: string };
}

export class Mosquitto {
  readonly dir: string;
  readonly dynsecFile: string;
  readonly confFile: string;
  port = 0;
  #child: ChildProcess | null = null;
  #log = '';
  readonly #options: MosquittoOptions;

  constructor(options: MosquittoOptions) {
    this.#options = options;
    this.dir = options.dir;
    mkdirSync(this.dir, { recursive: true });
    this.dynsecFile = path.join(this.dir, 'dynamic-security.json');
    this.confFile = path.join(this.dir, 'mosquitto.conf');
    execFileSync(
      'mosquitto_ctrl',
      ['dynsec', 'init', this.dynsecFile, options.adminUser, options.adminPassword],
      {
        stdio: 'ignore',
      },
    );
  }

  get log(): string {
    return this.#log;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts (or restarts, on the same port) and resolves once it listens. */
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const tls = this.#options.tls;
    writeFileSync(
      this.confFile,
      [
        // Run as root, mosquitto would switch to its own user, who cannot read this private temp dir.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        'per_listener_settings false',
        `listener ${this.port} 127.0.0.1`,
        ...(tls ? [`certfile ${tls.certFile}`, `keyfile ${tls.keyFile}`] : []),
        'allow_anonymous false',
        `plugin ${DYNSEC_PLUGIN}`,
        `plugin_opt_config_file ${this.dynsecFile}`,
        'persistence false',
        'max_packet_size 5120',
        'set_tcp_nodelay true',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        '',
      ].join('\n'),
    );
    const child = spawn(MOSQUITTO, ['-c', this.confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mosquitto did not start:\n${this.#log}`)), 10_000);
      const onData = (chunk: Buffer) => {
        this.#log += chunk.toString();
        if (this.#log.length > 200_000) this.#log = this.#log.slice(-100_000);
        if (/mosquitto version [\d.]+ running/.test(this.#log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited with ${code}:\n${this.#log}`));
      });
    });
  }

  /** Stops it by its pid and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  }
}
