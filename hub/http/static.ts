// The staff web UI as static files (built into ui/dist by `npm run build`; the hub never builds at boot),
// and the hub's CA certificate for browsers to trust. Served on the HTTP and HTTPS listeners only.
// Hashed files under /assets/ never change, so browsers keep them a year; index.html names the current
// ones, so it is never cached. Brotli and gzip copies are made at build time and picked by Accept-Encoding.
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The name a browser saves the CA certificate under (the login page links to GET /ca.crt). */
export const CA_DOWNLOAD_NAME = 'gatehouse-hub-ca.crt';
export const CA_CONTENT_TYPE = 'application/x-x509-ca-cert';
const IMMUTABLE = 'public, max-age=31536000, immutable';
const INDEX = 'index.html';

export const NOT_BUILT_PAGE =
  'Gatehouse hub: the web UI is not built: run npm run build in the Gatehouse folder, then reload this page.\n' +
  'The JSON API under /api/v1 works without it (docs/http-api.md).\n';

/**
 * The package root (the folder with package.json) above a module's folder: hub/http under tsx,
 * dist/hub/http once compiled. The build writes no package.json into dist/, so the first one found is
 * the package's own.
 */
export function packageRootOf(moduleDir: string): string {
  let dir = path.resolve(moduleDir);
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Not inside a package (a copied file): fall back on the known layouts.
  const rel = path.resolve(moduleDir);
  const up = rel.endsWith(path.join('dist', 'hub', 'http')) ? 3 : 2;
  return path.resolve(rel, ...Array<string>(up).fill('..'));
}

/** `<package root>/ui/dist`, from wherever this module runs (source or compiled). */
export function defaultUiDir(): string {
  return path.join(packageRootOf(import.meta.dirname), 'ui', 'dist');
}

export interface UiOptions {
  /** The built UI: index.html, assets/… with .br and .gz siblings. Need not exist (the not-built page). */
  uiDir: string;
  /** The hub's CA certificate (PEM) for GET /ca.crt; null: no download. */
  caCertPem: string | null;
}

/** Answers a browser's page request that matched no file; returned by registerUi for the 404 handler. */
export interface UiFallback {
  /** True for a GET/HEAD of a page of the single-page app: not /api/, not /assets/, and wanting HTML. */
  isPage(request: FastifyRequest): boolean;
  /** index.html (so a reload of /people/ada works), or the not-built page when there is no UI. */
  page(reply: FastifyReply): FastifyReply;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function acceptsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.split(',').some((part) => part.split(';')[0]!.trim().toLowerCase() === 'text/html');
}

function isApi(pathname: string): boolean {
  return pathname === '/api' || pathname.startsWith('/api/');
}

export async function registerUi(app: FastifyInstance, options: UiOptions): Promise<UiFallback> {
  const root = path.resolve(options.uiDir);
  const assetsDir = path.join(root, 'assets') + path.sep;
  const indexFile = path.join(root, INDEX);

  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: true, // looks files up per request: a UI built while the hub runs is served at once
    preCompressed: true,
    index: [INDEX],
    list: false,
    redirect: false,
    dotfiles: 'ignore',
    cacheControl: false, // set below, per kind of file
    // Nothing under /api/ is ever a file, whatever the folder holds: unknown API routes stay JSON 404s.
    allowedPath: (pathName) => !isApi(pathName),
    setHeaders: (response, file) => {
      response.setHeader('cache-control', file.startsWith(assetsDir) ? IMMUTABLE : 'no-store');
      // Every file exists precompressed, so every answer depends on Accept-Encoding (also identity).
      response.setHeader('vary', 'accept-encoding');
    },
  });

  if (options.caCertPem !== null) {
    const pem = options.caCertPem;
    app.get('/ca.crt', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('content-type', CA_CONTENT_TYPE)
        .header('content-disposition', `attachment; filename="${CA_DOWNLOAD_NAME}"`)
        .header('cache-control', 'no-cache')
        .send(pem),
    );
  }

  return {
    isPage(request) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false;
      const pathname = pathOf(request.url);
      if (isApi(pathname) || pathname.startsWith('/assets/')) return false;
      return pathname === '/' || acceptsHtml(request);
    },
    page(reply) {
      if (existsSync(indexFile)) return reply.code(200).sendFile(INDEX);
      return reply
        .code(503)
        .header('content-type', 'text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(NOT_BUILT_PAGE);
    },
  };
}
