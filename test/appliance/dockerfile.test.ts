// The Dockerfile at the repository root, checked without a Docker engine: dockerfile-utils' linter, and
// the structure issue #12 asks for (multi-stage on node:22-bookworm-slim, native modules built in a build
// stage, production dependencies only, non-root, tini, a data volume, the documented ports, a health check
// on /api/v1/health, the release layout with the cloud .proto). What running the image's start command
// gives is in release.test.ts.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../helpers/hub.js';
import { envOf, execForm, lintDockerfile, readDockerfile } from './dockerfile.js';

const { text, instructions } = readDockerfile();
const stages = instructions.filter((i) => i.keyword === 'FROM');
const finalStage = stages.length - 1;
const inStage = (stage: number, keyword: string) =>
  instructions.filter((i) => i.stage === stage && i.keyword === keyword);
const final = (keyword: string) => inStage(finalStage, keyword);
const stageNamed = (name: string) =>
  stages.findIndex((s) => new RegExp(`\\bAS\\s+${name}$`, 'i').test(s.args));

describe('Dockerfile', () => {
  it('passes dockerfile-utils with no diagnostics', () => {
    expect(lintDockerfile(text)).toEqual([]);
  });

  it('the linter does find problems (a broken copy is not clean)', () => {
    const broken = `${text}\nCMD ["twice"]\nHEALTHCHECK --interval=abc CMD true\nEXPOZE 1\n`;
    expect(lintDockerfile(broken).length).toBeGreaterThanOrEqual(3);
  });

  it('is multi-stage on node:22-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const from of stages) expect(from.args).toMatch(/(^|\s)node:22-bookworm-slim(\s|$)/);
  });

  it('compiles native modules in a build stage and installs production dependencies only', () => {
    const deps = stageNamed('deps');
    expect(deps).toBeGreaterThanOrEqual(0);
    expect(deps).not.toBe(finalStage);
    const runs = inStage(deps, 'RUN').map((r) => r.args);
    expect(runs.some((r) => /apt-get install .*\bpython3\b.*\bmake\b.*\bg\+\+/.test(r))).toBe(true);
    expect(runs.some((r) => /npm ci --omit=dev\b/.test(r))).toBe(true);
    // The image itself has no compiler and installs nothing from npm.
    expect(final('RUN').some((r) => /\bg\+\+|\bnpm (ci|install)\b/.test(r.args))).toBe(false);
    expect(final('COPY').some((c) => /--from=deps\s+\/app\/node_modules\b/.test(c.args))).toBe(true);
  });

  it('builds the release tarball with `npm run release` (the layout install.sh installs)', () => {
    const build = stageNamed('build');
    expect(build).toBeGreaterThanOrEqual(0);
    expect(inStage(build, 'RUN').some((r) => /npm run release\b/.test(r.args))).toBe(true);
    expect(final('COPY').some((c) => /--from=build\s+\/app\s/.test(c.args))).toBe(true);
    // The cloud .proto, where the mirror looks for it from dist/, is part of the release (package.json files).
    const files = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] })
      .files;
    expect(files).toContain('hub/cloud/gatehouse-cloud.proto');
    expect(files).toEqual(expect.arrayContaining(['dist/hub/', 'ui/dist/', 'flows/', 'bin/']));
  });

  it('runs as a non-root user under tini, with the data in a volume', () => {
    const users = final('USER');
    expect(users.at(-1)?.args).toBe('node');
    expect(execForm(final('ENTRYPOINT').at(-1)!.args)).toEqual(['/usr/bin/tini', '--']);
    expect(final('RUN').some((r) => /apt-get install .*\btini\b/.test(r.args))).toBe(true);
    const env = envOf(final('ENV'));
    expect(env.GATEHOUSE_DATA).toBe('/data');
    expect(final('VOLUME').map((v) => v.args)).toContain(env.GATEHOUSE_DATA);
  });

  it('exposes the LAN ports docs/install.md lists (MQTT over TLS, HTTPS)', () => {
    const exposed = final('EXPOSE').flatMap((e) => e.args.split(/\s+/));
    expect(exposed.sort()).toEqual(['8443', '8883']);
    const install = readFileSync(path.join(ROOT, 'docs/install.md'), 'utf8');
    for (const port of exposed) expect(install).toMatch(new RegExp(`\\| ${port} `));
  });

  it('checks its health on /api/v1/health with a script that is in the release', () => {
    const check = final('HEALTHCHECK').at(-1)!.args;
    expect(check).toMatch(/--interval=\d+s/);
    const command = execForm(check.replace(/^.*?CMD\s+/, ''));
    expect(command).toEqual(['node', 'bin/healthcheck.js']);
    expect(readFileSync(path.join(ROOT, 'bin/healthcheck.js'), 'utf8')).toContain("'/api/v1/health'");
  });

  it('starts the compiled hub (no TypeScript, no build at boot) with the node flags the systemd unit uses', () => {
    const cmd = execForm(final('CMD').at(-1)!.args);
    expect(cmd[0]).toBe('node');
    expect(cmd.at(-2)).toBe('dist/hub/main.js');
    expect(cmd.at(-1)).toBe('start');
    const unit = readFileSync(path.join(ROOT, 'deploy/systemd/gatehouse.service'), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
    expect(cmd.slice(1, -2)).toEqual(execStart.slice(1, -2));
  });

  it('is the only Dockerfile, and .dockerignore keeps node_modules and builds out of the context', () => {
    expect(existsSync(path.join(ROOT, 'deploy/docker/Dockerfile'))).toBe(false);
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['node_modules', 'dist', 'ui/dist', 'data', '.git']));
  });
});

describe('deploy/docker/compose.yaml', () => {
  const compose = parseYaml(readFileSync(path.join(ROOT, 'deploy/docker/compose.yaml'), 'utf8')) as {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
  };
  const hub = compose.services.gatehouse!;

  it('builds the root Dockerfile and keeps the data in a named volume', () => {
    expect(hub.build).toEqual({ context: '../..', dockerfile: 'Dockerfile' });
    expect(hub.volumes).toContain('gatehouse-data:/data');
    expect(Object.keys(compose.volumes)).toContain('gatehouse-data');
  });

  it('shows GPIO and serial device access', () => {
    expect(hub.devices).toEqual(
      expect.arrayContaining(['/dev/gpiochip0:/dev/gpiochip0', '/dev/ttyAMA0:/dev/ttyAMA0']),
    );
    expect((hub.group_add as string[]).length).toBeGreaterThan(0);
    expect(hub.ports).toEqual(['8883:8883', '8443:8443']);
  });
});
