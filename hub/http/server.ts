// The web server part: plain HTTP on 127.0.0.1 for local tools, HTTPS for the LAN, same routes on both.
import { chmodSync, rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp, type HttpDeps } from './app.js';

export interface HttpServerOptions {
  http: { enabled: boolean; host: string; port: number };
  https: { enabled: boolean; host: string; port: number; keyPem: string; certPem: string };
  /** Unix socket for the CLI (e.g. data/hub.sock), or null. */
  socketPath: string | null;
}

export class HttpServer {
  readonly #deps: Omit<HttpDeps, 'secure'>;
  readonly #options: HttpServerOptions;
  #apps: Array<{ app: FastifyInstance; kind: 'http' | 'https' | 'socket' }> = [];
  #ports: { http?: number; https?: number } = {};

  constructor(deps: Omit<HttpDeps, 'secure'>, options: HttpServerOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  async start(): Promise<void> {
    const { http, https } = this.#options;
    if (http.enabled) {
      const app = await buildHttpApp({ ...this.#deps, secure: false });
      await app.listen({ host: http.host, port: http.port });
      this.#ports.http = portOf(app);
      this.#apps.push({ app, kind: 'http' });
    }
    if (https.enabled) {
      const app = await buildHttpApp({ ...this.#deps, secure: true }, https);
      await app.listen({ host: https.host, port: https.port });
      this.#ports.https = portOf(app);
      this.#apps.push({ app, kind: 'https' });
    }
    const socketPath = this.#options.socketPath;
    if (socketPath) {
      // A stale socket from a crash would make listen fail; nothing else lives at this path.
      rmSync(socketPath, { force: true });
      const app = await buildHttpApp({ ...this.#deps, secure: false, localAdmin: true });
      await app.listen({ path: socketPath });
      chmodSync(socketPath, 0o600);
      this.#apps.push({ app, kind: 'socket' });
    }
  }

  ports(): { http?: number; https?: number } {
    return { ...this.#ports };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#apps.map(({ app }) => app.close()));
    this.#apps = [];
  }
}

function portOf(app: FastifyInstance): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}
