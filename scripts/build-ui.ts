// Builds the staff web UI (ui/src, Preact) into ui/dist: index.html plus content-hashed files under
// assets/, each with .br and .gz siblings so the hub serves them precompressed (docs/staff-guide.md).
// esbuild alone: one fast, dependency-light step that CI and the appliance build both run.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, 'ui/dist');
const ASSETS = path.join(OUT, 'assets');

rmSync(OUT, { recursive: true, force: true });
mkdirSync(ASSETS, { recursive: true });

const result = await build({
  entryPoints: [path.join(ROOT, 'ui/src/main.tsx')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome100', 'safari15', 'firefox100'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: ASSETS,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  sourcemap: false,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((file) =>
  path.relative(ASSETS, path.resolve(ROOT, file)),
);
const script = outputs.find((file) => file.endsWith('.js'));
const style = outputs.find((file) => file.endsWith('.css'));
if (!script || !style) throw new Error(`UI build produced no script or stylesheet: ${outputs.join(', ')}`);

// No inline script or style: the hub's Content-Security-Policy allows only files from the hub itself.
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="theme-color" content="#0f3b5f">
<meta name="referrer" content="no-referrer">
<title>Gatehouse</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/${style}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Gatehouse staff app needs JavaScript.</noscript>
</body>
</html>
`;
writeFileSync(path.join(OUT, 'index.html'), html);

let compressed = 0;
for (const file of listFiles(OUT)) {
  const body = readFileSync(file);
  const br = brotliCompressSync(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  writeFileSync(`${file}.br`, br);
  writeFileSync(`${file}.gz`, gzipSync(body, { level: 9 }));
  compressed +=
    file.endsWith('index.html') || file === path.join(ASSETS, script) || file === path.join(ASSETS, style)
      ? br.length
      : 0;
}
console.log(`ui/dist: ${script}, ${style}; first load ${(compressed / 1024).toFixed(1)} KB brotli`);

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}
