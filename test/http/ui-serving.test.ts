// The staff web UI as a real hub serves it over real HTTP and HTTPS: precompressed files by
// Accept-Encoding, cache headers, the single-page-app fallback, path traversal refused, the not-built
// page, security headers on every answer, and the CA download.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { CA_DOWNLOAD_NAME, defaultUiDir, NOT_BUILT_PAGE, packageRootOf } from '../../hub/http/static.js';
import { ROOT, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import {
  FAKE_CSS,
  FAKE_CSS_TEXT,
  FAKE_INDEX,
  FAKE_JS,
  FAKE_JS_TEXT,
  SECRET_MARKER,
  writeFakeUi,
} from './fake-ui.js';
import { rawRequest } from './raw.js';

const PASSWORD = 'correct horse battery';
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

let dir: string;
let uiBase: string;
let hub: Hub;
let port: number;
let httpsPort: number;
let ca: string;

beforeAll(async () => {
  dir = tempDataDir();
  uiBase = mkdtempSync(path.join(tmpdir(), 'gh-ui-'));
  const uiDir = writeFakeUi(uiBase);
  hub = await startHub(dir, {}, { uiDir });
  port = hub.addresses().http.http!;
  httpsPort = hub.addresses().http.https!;
  ca = readFileSync(path.join(dir, 'certs', 'ca.crt'), 'utf8');
  await hub.store.users.add('alice', PASSWORD, 'admin');
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
  removeDir(uiBase);
});

describe('the built UI', () => {
  it('serves index.html at / with brotli, gzip or identity, never cached', async () => {
    for (const [accept, encoding, decode] of [
      ['br, gzip, deflate', 'br', brotliDecompressSync],
      ['gzip', 'gzip', gunzipSync],
      ['identity', undefined, (b: Buffer) => b],
    ] as const) {
      const res = await rawRequest(port, '/', { headers: { 'accept-encoding': accept, accept: HTML } });
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBe(encoding);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.vary).toMatch(/accept-encoding/i);
      expect(decode(res.body).toString('utf8')).toBe(FAKE_INDEX);
    }
    // No Accept-Encoding at all: the plain file.
    const plain = await rawRequest(port, '/index.html');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.text).toBe(FAKE_INDEX);
    expect(plain.headers['cache-control']).toBe('no-store');
  });

  it('serves hashed assets precompressed with a year-long immutable cache', async () => {
    for (const [file, text, type] of [
      [FAKE_JS, FAKE_JS_TEXT, /javascript/],
      [FAKE_CSS, FAKE_CSS_TEXT, /^text\/css/],
    ] as const) {
      const br = await rawRequest(port, `/assets/${file}`, { headers: { 'accept-encoding': 'gzip, br' } });
      expect(br.status).toBe(200);
      expect(br.headers['content-encoding']).toBe('br');
      expect(br.headers['content-type']).toMatch(type);
      expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(brotliDecompressSync(br.body).toString('utf8')).toBe(text);
      expect(br.body.length).toBeLessThan(Buffer.byteLength(text));

      const gz = await rawRequest(port, `/assets/${file}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(gz.body).toString('utf8')).toBe(text);

      const identity = await rawRequest(port, `/assets/${file}`);
      expect(identity.headers['content-encoding']).toBeUndefined();
      expect(identity.text).toBe(text);
      expect(identity.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    }
  });

  it('answers index.html for a page of the app (a reload of /people/ada), however many', async () => {
    // More than the 60 unknown paths a minute an address may ask for: pages are not unknown paths.
    for (let i = 0; i < 70; i++) {
      const res = await rawRequest(port, `/people/ada-${i}?tab=cards`, { headers: { accept: HTML } });
      expect(res.status).toBe(200);
      expect(res.text).toBe(FAKE_INDEX);
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const head = await rawRequest(port, '/doors/front', { method: 'HEAD', headers: { accept: HTML } });
    expect(head.status).toBe(200);
  });

  it('keeps unknown API routes, missing assets and non-HTML requests as JSON 404s', async () => {
    for (const [url, accept] of [
      ['/api/v1/no-such-route', HTML],
      ['/api/nothing', HTML],
      ['/api', HTML],
      ['/assets/main-000000.js', HTML],
      ['/people/ada', 'application/json'],
      ['/people/ada', '*/*'],
    ]) {
      const res = await rawRequest(port, url!, { headers: { accept: accept! } });
      expect(res.status, url).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/json/);
      expect(JSON.parse(res.text), url).toEqual({ error: 'not found' });
    }
    // A POST to a page is no page load.
    const post = await rawRequest(port, '/people/ada', { method: 'POST', headers: { accept: HTML } });
    expect(post.status).toBe(404);
  });

  it('never serves a file outside the UI folder, nor a dotfile in it', async () => {
    const attempts = [
      '/assets/../../package.json',
      '/assets/../../secret.txt',
      '/../package.json',
      '/../../secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/assets/%2E%2E%2F%2E%2E%2Fsecret.txt',
      '/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/..%252f..%252fsecret.txt',
      '/assets/%252e%252e/%252e%252e/secret.txt',
      '/assets/..\\..\\secret.txt',
      '/assets/..%5c..%5csecret.txt',
      '//secret.txt',
      '/assets//../../secret.txt',
      '/./../secret.txt',
      '/assets/%00../../secret.txt',
      '/.env',
      '/%2eenv',
      '/assets/../.env',
      '/api/../../secret.txt',
    ];
    for (const url of attempts) {
      for (const accept of [HTML, '*/*']) {
        const res = await rawRequest(port, url, { headers: { accept } });
        expect(res.text, url).not.toContain(SECRET_MARKER);
        // Refused outright, or at most the app's own index.html (a page the app will call unknown).
        if (res.status === 200) expect([url, accept, res.text]).toEqual([url, HTML, FAKE_INDEX]);
        else expect([400, 403, 404], url).toContain(res.status);
      }
    }
  });

  it('offers the hub CA certificate at /ca.crt without a login, on HTTP and HTTPS', async () => {
    for (const options of [{}, { ca }]) {
      const res = await rawRequest(options.ca ? httpsPort : port, '/ca.crt', options);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-x509-ca-cert');
      expect(res.headers['content-disposition']).toBe(`attachment; filename="${CA_DOWNLOAD_NAME}"`);
      expect(res.text).toBe(ca);
      expect(res.text).not.toMatch(/PRIVATE KEY/);
    }
  });
});

describe('security headers', () => {
  const CSP =
    "default-src 'self';script-src 'self';script-src-attr 'none';style-src 'self';img-src 'self' data: blob:;" +
    "connect-src 'self';font-src 'self';object-src 'none';base-uri 'self';form-action 'self';frame-ancestors 'none'";

  async function token(): Promise<string> {
    const res = await rawRequest(port, '/api/v1/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD }),
    });
    return (JSON.parse(res.text) as { token: string }).token;
  }

  function expectStrict(headers: Record<string, unknown>, https: boolean, what: string): void {
    expect(headers['content-security-policy'], what).toBe(https ? `${CSP};upgrade-insecure-requests` : CSP);
    expect(String(headers['content-security-policy']), what).not.toContain('unsafe');
    expect(headers['referrer-policy'], what).toBe('no-referrer');
    expect(headers['x-content-type-options'], what).toBe('nosniff');
    expect(headers['x-frame-options'], what).toBe('DENY');
    expect(headers['cross-origin-opener-policy'], what).toBe('same-origin');
    expect(headers['cross-origin-resource-policy'], what).toBe('same-origin');
    expect(headers['x-powered-by'], what).toBeUndefined();
    if (https) expect(headers['strict-transport-security'], what).toBe('max-age=31536000');
    else expect(headers['strict-transport-security'], what).toBeUndefined();
  }

  it('are on UI files, API answers, errors, the API document and the live stream; HSTS on HTTPS only', async () => {
    const bearer = await token();
    const auth = { authorization: `Bearer ${bearer}` };
    for (const https of [false, true]) {
      const p = https ? httpsPort : port;
      const tls = https ? { ca } : {};
      const answers: Array<[string, Awaited<ReturnType<typeof rawRequest>>]> = [
        ['/', await rawRequest(p, '/', { ...tls, headers: { 'accept-encoding': 'br' } })],
        [`/assets/${FAKE_JS}`, await rawRequest(p, `/assets/${FAKE_JS}`, tls)],
        ['page', await rawRequest(p, '/people/ada', { ...tls, headers: { accept: HTML } })],
        ['/ca.crt', await rawRequest(p, '/ca.crt', tls)],
        ['health', await rawRequest(p, '/api/v1/health', tls)],
        ['401', await rawRequest(p, '/api/v1/people', tls)],
        ['404', await rawRequest(p, '/api/v1/nope', tls)],
        ['people', await rawRequest(p, '/api/v1/people', { ...tls, headers: auth })],
        ['docs', await rawRequest(p, '/api/docs', { ...tls, headers: auth })],
      ];
      for (const [what, res] of answers) expectStrict(res.headers, https, `${what} https=${https}`);
      expect(answers[1]![1].status).toBe(200);
      const docs = answers[8]![1];
      expect(docs.status).toBe(200);
      expect(JSON.parse(docs.text)).toMatchObject({ openapi: '3.0.3' });
    }
  });

  it('leave the live stream working', async () => {
    const bearer = await token();
    const stream = await new Promise<{ headers: Record<string, unknown>; text: string }>(
      (resolve, reject) => {
        import('node:http').then(({ request }) => {
          const req = request(
            {
              host: '127.0.0.1',
              port,
              path: '/api/v1/stream',
              headers: { authorization: `Bearer ${bearer}` },
            },
            (res) => {
              let text = '';
              res.on('data', (c: Buffer) => {
                text += c.toString('utf8');
                if (text.includes('event: hello')) {
                  req.destroy();
                  resolve({ headers: res.headers, text });
                }
              });
            },
          );
          req.on('error', reject);
          req.end();
        }, reject);
      },
    );
    expect(stream.headers['content-type']).toBe('text/event-stream');
    expectStrict(stream.headers, false, 'stream');
    expect(stream.text).toContain('event: hello');
  });
});

describe('where the UI is found', () => {
  it('is <package root>/ui/dist from the source and from the compiled file', async () => {
    expect(defaultUiDir()).toBe(path.join(ROOT, 'ui', 'dist'));
    const compiled = path.join(ROOT, 'dist/hub/http/static.js');
    const built = (await import(compiled)) as typeof import('../../hub/http/static.js');
    expect(built.defaultUiDir()).toBe(path.join(ROOT, 'ui', 'dist'));
  });

  it('walks up to the package.json from either layout', () => {
    const base = mkdtempSync(path.join(tmpdir(), 'gh-root-'));
    try {
      writeFakeUi(base); // writes base/package.json
      expect(packageRootOf(path.join(base, 'dist', 'hub', 'http'))).toBe(base);
      expect(packageRootOf(path.join(base, 'hub', 'http'))).toBe(base);
    } finally {
      removeDir(base);
    }
  });
});

describe('a hub whose UI is not built', () => {
  let bare: Hub;
  let bareDir: string;

  beforeAll(async () => {
    bareDir = tempDataDir();
    bare = await startHub(bareDir, {}, { uiDir: path.join(bareDir, 'no-such-ui', 'dist') });
  });

  afterAll(async () => {
    await bare?.stop();
    removeDir(bareDir);
  });

  it('still starts and answers / with a short page saying how to build it', async () => {
    const p = bare.addresses().http.http!;
    for (const [url, accept] of [
      ['/', '*/*'],
      ['/', HTML],
      ['/people/ada', HTML],
    ]) {
      const res = await rawRequest(p, url!, { headers: { accept: accept!, 'accept-encoding': 'br, gzip' } });
      expect(res.status, url).toBe(503);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.text).toBe(NOT_BUILT_PAGE);
      expect(res.text).toContain('the web UI is not built: run npm run build');
    }
    expect((await rawRequest(p, '/api/v1/health')).status).toBe(200);
    expect((await rawRequest(p, '/assets/main-3F2A1B.js')).status).toBe(404);
    expect((await rawRequest(p, '/ca.crt')).status).toBe(200);
  });
});
