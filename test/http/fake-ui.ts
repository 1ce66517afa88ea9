// A small built UI of the shape scripts/build-ui.ts writes (index.html, hashed files under assets/, each
// with .br and .gz siblings), in a temp folder that also holds files that must never be served.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';

export const FAKE_JS = 'main-3F2A1B.js';
export const FAKE_CSS = 'main-9C0D.css';
/** Text in files next to (and inside) ui/dist that no request may ever return. */
export const SECRET_MARKER = 'NEVER-SERVE-THIS-7f3a';

export const FAKE_INDEX = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse</title>
<link rel="stylesheet" href="/assets/${FAKE_CSS}">
<script type="module" src="/assets/${FAKE_JS}"></script>
</head><body><div id="app"></div></body></html>
`;
export const FAKE_JS_TEXT = `${'console.log("gatehouse ui");\n'.repeat(40)}`;
export const FAKE_CSS_TEXT = `${'body { margin: 0; font-family: system-ui; }\n'.repeat(40)}`;

function withSiblings(file: string, text: string): void {
  writeFileSync(file, text);
  writeFileSync(`${file}.br`, brotliCompressSync(Buffer.from(text)));
  writeFileSync(`${file}.gz`, gzipSync(Buffer.from(text)));
}

/** Writes `<base>/ui/dist` and returns its path; `<base>` also holds a package.json and a secret. */
export function writeFakeUi(base: string): string {
  const dist = path.join(base, 'ui', 'dist');
  mkdirSync(path.join(dist, 'assets'), { recursive: true });
  withSiblings(path.join(dist, 'index.html'), FAKE_INDEX);
  withSiblings(path.join(dist, 'assets', FAKE_JS), FAKE_JS_TEXT);
  withSiblings(path.join(dist, 'assets', FAKE_CSS), FAKE_CSS_TEXT);
  writeFileSync(path.join(dist, '.env'), `${SECRET_MARKER}\n`);
  writeFileSync(path.join(base, 'package.json'), `{"name":"${SECRET_MARKER}"}\n`);
  writeFileSync(path.join(base, 'secret.txt'), `${SECRET_MARKER}\n`);
  return dist;
}
