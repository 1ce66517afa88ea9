// The web server part: plain HTTP on 127.0.0.1 for local tools, HTTPS for the LAN, same routes on both.
import { chmodSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from './app.js';
import { createGuards, type HttpDeps, type HttpGuards } from './deps.js';
import type { LoginLimits, StreamLimits } from './limits.js';
import { SetupToken } from './setup-token.js';

export interface HttpServerOptions {
  http: { enabled: boolean; host: string; port: number };
  https: { enabled: boolean; host: string; port: number; keyPem: string; certPem: string };
  /** Unix socket for the CLI (e.g. data/hub.sock), or null. */
  socketPath: string | null;
  /** Where the first-run setup token file lives; null: no token, setup only over the control socket. */
  dataDir?: string | null;
  streams?: StreamLimits;
  login?: LoginLimits;
}

export class HttpServer {
  readonly #deps: Omit<HttpDeps, 'secure'>;
  readonly #options: HttpServerOptions;
  #apps: Array<{ app: FastifyInstance; kind: 'http' | 'https' | 'socket' }> = [];
  #ports: { http?: number; https?: number } = {};
  #guards: HttpGuards | null = null;
  #flushTimer: NodeJS.Timeout | null = null;

  constructor(deps: Omit<HttpDeps, 'secure'>, options: HttpServerOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  async start(): Promise<void> {
    const { http, https, dataDir } = this.#options;
    const { store, bus, logger } = this.#deps;
    let setup: { token: SetupToken; value: string } | null = null;
    if (dataDir) {
      const token = new SetupToken(dataDir);
      if (store.users.count() === 0) setup = { token, value: token.ensure() };
      else token.retire(); // a leftover from before `gatehouse user add`
    }
    const guards = createGuards(
      {
        ...(this.#options.streams ? { streams: this.#options.streams } : {}),
        ...(this.#options.login ? { login: this.#options.login } : {}),
      },
      setup?.token ?? null,
      logger,
    );
    this.#guards = guards;
    this.#flushTimer = setInterval(() => guards.refusals.flush(), 60_000).unref();
    // A staff user added, removed, disabled or re-roled (here or by the CLI): streams re-check their
    // sessions now, and the setup token goes once anyone exists.
    bus.on(this, 'event', (e) => {
      if (!e.type.startsWith('admin.user.')) return;
      guards.streams.recheck();
      if (guards.setupToken?.active && store.users.count() > 0) guards.setupToken.retire();
    });

    const deps = { ...this.#deps, guards };
    if (http.enabled) {
      const app = await buildHttpApp({ ...deps, secure: false });
      await app.listen({ host: http.host, port: http.port });
      this.#ports.http = portOf(app);
      this.#apps.push({ app, kind: 'http' });
    }
    if (https.enabled) {
      const app = await buildHttpApp({ ...deps, secure: true }, https);
      await app.listen({ host: https.host, port: https.port });
      this.#ports.https = portOf(app);
      this.#apps.push({ app, kind: 'https' });
    }
    const socketPath = this.#options.socketPath;
    if (socketPath) {
      // A stale socket from a crash would make listen fail; nothing else lives at this path.
      rmSync(socketPath, { force: true });
      const app = await buildHttpApp({ ...deps, secure: false, localAdmin: true });
      await app.listen({ path: socketPath });
      chmodSync(socketPath, 0o600);
      this.#apps.push({ app, kind: 'socket' });
    }
    if (setup) {
      // One line an installer can copy from the console or `journalctl -u gatehouse`. The token is in the
      // link's #fragment: browsers never send it to a server, so it is in no request log or Referer.
      const links = [
        ...(https.enabled ? [`https://${publicHost(https.host)}:${this.#ports.https}`] : []),
        ...(http.enabled ? [`http://${localHost(http.host)}:${this.#ports.http}`] : []),
      ].map((base) => `${base}/setup#${setup.value}`);
      const add = '`npx gatehouse user add <name> --role admin` on the hub';
      const how =
        links.length === 0
          ? `Run ${add}.`
          : `Open ${links[0]} in a browser to create the first admin` +
            (links[1] ? ` (on this machine also ${links[1]})` : '') +
            `, or run ${add}.`;
      logger.warn(
        { setupTokenFile: setup.token.file },
        `First-run setup: no staff user yet. ${how} The setup token ${setup.value} is also in ` +
          `${setup.token.file} (API: POST /api/v1/setup); see docs/http-api.md`,
      );
    }
  }

  ports(): { http?: number; https?: number } {
    return { ...this.#ports };
  }

  async stop(): Promise<void> {
    this.#deps.bus.removeAll(this);
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    this.#guards?.streams.stop();
    this.#guards?.refusals.flush(true);
    await Promise.all(this.#apps.map(({ app }) => app.close()));
    this.#apps = [];
  }
}

/** The address to show an installer: a wildcard bind means "this machine's name". */
function publicHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return hostname();
  return host.includes(':') ? `[${host}]` : host;
}

/** The plain-HTTP listener is for this machine: a wildcard bind is still reached at 127.0.0.1. */
function localHost(host: string): string {
  if (host === '0.0.0.0' || host === '' || host === 'localhost') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function portOf(app: FastifyInstance): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}
