// The release as it is shipped and run, without a Docker engine, root or a Pi:
// - `npm run release` makes the tarball; a production tree is made from it the way the image's `deps` and
//   `build` stages make theirs (release unpacked; node_modules = this checkout's, pruned with
//   `npm prune --omit=dev`, checked equal to the lockfile's production packages, which is what
//   `npm ci --omit=dev` installs, without compiling better-sqlite3 again);
// - the image's exact start command (the Dockerfile's final CMD, WORKDIR and ENV) runs the hub from it: the
//   cloud link dials (the .proto is found), the UI is served, /api/v1/health and the HEALTHCHECK answer;
// - deploy/install.sh installs it into a throwaway root (every path overridden; apt, useradd and systemctl
//   skipped), the installed unit verifies and its ExecStart says READY=1, an upgrade keeps data and
//   config, a schema downgrade is refused with nothing changed, --uninstall keeps data unless --purge.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { callHub } from '../../hub/cli/hub-client.js';
import { renderConfigExample } from '../../hub/config/example.js';
import { SCHEMA_VERSION } from '../../hub/store/migrations.js';
import { ROOT } from '../helpers/hub.js';
import { envOf, execForm, readDockerfile } from './dockerfile.js';
import { fakeNotifySocket } from './notify-socket.js';
import { verifyUnit } from './systemd-verify.js';

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd ?? ROOT,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} → ${result.code}\n${result.stderr}`);
  return result.stdout;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Ports the tests pick (the config's fixed ones may be taken on this machine); env wins over any file. */
const FREE_PORTS = {
  GATEHOUSE_MQTT_TCP_PORT: '0',
  GATEHOUSE_MQTT_TLS_PORT: '0',
  GATEHOUSE_MQTT_TLS_HOST: '127.0.0.1',
  GATEHOUSE_HTTP_HTTP_PORT: '0',
  GATEHOUSE_HTTP_HTTPS_PORT: '0',
  GATEHOUSE_HTTP_HTTPS_HOST: '127.0.0.1',
  // Node-RED (nodeRed.enabled, issue #11) is not what these tests are about; an unknown variable is ignored.
  GATEHOUSE_NODE_RED_ENABLED: 'false',
};

interface Started {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  deciding: Record<string, unknown>;
  exited: Promise<number | null>;
}

/** Spawns a hub process and waits for its `deciding` line. */
function startProcess(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Started> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "deciding" within 40 s:\n${stderr}`)), 40_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'deciding') {
        clearTimeout(timer);
        resolve({ child, logs, deciding: entry, exited });
      }
    });
    void exited.then((code) => reject(new Error(`exited with ${code} before deciding:\n${stderr}`)));
  });
}

const running: ChildProcess[] = [];
let work = '';
let tarball = '';
let app = '';

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'gh-release-'));
  const out = await ok('bash', ['scripts/release.sh', '--no-build', '--out', path.join(work, 'release')]);
  tarball = out.trim().split('\n').at(-1)!;
  app = path.join(work, 'app');
  mkdirSync(app);
  await ok('tar', ['-xzf', tarball, '-C', app, '--strip-components=1']);
  // The `deps` stage runs `npm ci --omit=dev` from the release's package.json and npm-shrinkwrap.json; here
  // the checkout's node_modules (same platform, already compiled) is copied and pruned to the same set.
  // Hard links where the file system allows (prune only deletes them); the hidden lockfile npm rewrites is
  // a real copy, so the checkout's node_modules is never written through a link.
  const source = realpathSync(path.join(ROOT, 'node_modules'));
  const target = path.join(app, 'node_modules');
  if ((await run('cp', ['-al', `${source}/.`, target])).code !== 0) {
    await ok('rm', ['-rf', target]);
    await ok('cp', ['-a', `${source}/.`, target]);
  }
  await ok('rm', ['-f', path.join(target, '.package-lock.json')]);
  await ok('cp', [path.join(source, '.package-lock.json'), path.join(target, '.package-lock.json')]);
  await ok('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: app,
  });
}, 240_000);

afterAll(async () => {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  if (work) await ok('rm', ['-rf', work]); // ~230 MB of node_modules: slow on a busy machine
}, 120_000);

describe('the release tarball (npm run release)', () => {
  it('holds the compiled hub, the built UI, the cloud .proto, the lockfile and the installer; no sources', async () => {
    const list = (await ok('tar', ['-tzf', tarball])).split('\n').filter(Boolean);
    expect(path.basename(tarball)).toBe(`gatehouse-${VERSION}.tgz`);
    expect(list).toEqual(
      expect.arrayContaining([
        'package/package.json',
        'package/npm-shrinkwrap.json',
        'package/dist/hub/main.js',
        'package/dist/hub/systemd/notify.js',
        'package/ui/dist/index.html',
        'package/hub/cloud/gatehouse-cloud.proto',
        'package/bin/gatehouse.js',
        'package/bin/healthcheck.js',
        'package/deploy/install.sh',
        'package/deploy/systemd/gatehouse.service',
        'package/deploy/config.example.yml',
        'package/docs/install.md',
      ]),
    );
    const unwanted = list.filter((f) =>
      /(\.ts$|^package\/(test|bench|scripts|node_modules|dist\/bench|dist\/test|deploy\/dev-cloud)\/)/.test(
        f,
      ),
    );
    expect(unwanted).toEqual([]);
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as unknown;
    const shrinkwrap = await ok('tar', ['-xOzf', tarball, 'package/npm-shrinkwrap.json']);
    expect(JSON.parse(shrinkwrap)).toEqual(lock);
    expect(readFileSync(`${tarball}.sha256`, 'utf8')).toMatch(
      new RegExp(`^[0-9a-f]{64}  gatehouse-${VERSION}\\.tgz\\n$`),
    );
  });

  it('production tree: exactly the lockfile packages `npm ci --omit=dev` installs, no dev tools', () => {
    type Entry = { dev?: boolean; optional?: boolean; os?: string[]; cpu?: string[]; libc?: string[] };
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, Entry>;
    };
    const production = Object.entries(lock.packages).filter(
      ([key, p]) => key.startsWith('node_modules/') && !p.dev,
    );
    // Optional packages are installed only where they fit (bcrypt's prebuilt binary for this platform).
    const glibc = Boolean(
      (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
        ?.glibcVersionRuntime,
    );
    const fitsHere = (p: Entry) =>
      (!p.os || p.os.includes(process.platform)) &&
      (!p.cpu || p.cpu.includes(process.arch)) &&
      (!p.libc || p.libc.includes(glibc ? 'glibc' : 'musl'));
    const required = production.filter(([, p]) => !p.optional).map(([key]) => key);
    const optionalHere = production
      .filter(([, p]) => p.optional && (p.os || p.cpu) && fitsHere(p))
      .map(([k]) => k);
    const allowed = new Set(production.map(([key]) => key));
    const installed: string[] = [];
    const walk = (dir: string, rel: string) => {
      for (const name of readdirSync(dir)) {
        if (name.startsWith('.')) continue;
        const full = path.join(dir, name);
        if (name.startsWith('@')) {
          for (const scoped of readdirSync(full)) visit(path.join(full, scoped), `${rel}${name}/${scoped}`);
        } else visit(full, `${rel}${name}`);
      }
    };
    const visit = (full: string, rel: string) => {
      if (!existsSync(path.join(full, 'package.json'))) return;
      installed.push(rel);
      if (existsSync(path.join(full, 'node_modules')))
        walk(path.join(full, 'node_modules'), `${rel}/node_modules/`);
    };
    walk(path.join(app, 'node_modules'), 'node_modules/');
    expect(installed.filter((key) => !allowed.has(key))).toEqual([]); // nothing but production packages
    expect(required.filter((key) => !installed.includes(key))).toEqual([]); // every required one
    expect(optionalHere.filter((key) => !installed.includes(key))).toEqual([]);
    expect(optionalHere.length).toBeGreaterThan(0);
    // (typescript stays: it is an optional peer of a production package, "devOptional", which
    // `npm ci --omit=dev` installs too.)
    for (const dev of ['vitest', '@biomejs/biome', 'tsx', 'esbuild', 'playwright-core', 'preact']) {
      expect(existsSync(path.join(app, 'node_modules', dev))).toBe(false);
    }
    // The optional native module Type=notify needs is there.
    expect(existsSync(path.join(app, 'node_modules/unix-dgram/build/Release/unix_dgram.node'))).toBe(true);
  });
});

describe("the image's start command, run from the production tree", () => {
  it('starts the hub: cloud link dialling (proto found), UI served, /api/v1/health and HEALTHCHECK answer', async () => {
    const { instructions } = readDockerfile();
    const finalStage = Math.max(...instructions.map((i) => i.stage));
    const final = instructions.filter((i) => i.stage === finalStage);
    const cmd = execForm(final.filter((i) => i.keyword === 'CMD').at(-1)!.args);
    const workdir = final.filter((i) => i.keyword === 'WORKDIR').at(-1)!.args;
    expect(workdir).toBe('/app'); // the production tree stands in for /app
    const imageEnv = envOf(final);
    const dataDir = path.join(work, 'docker-data'); // stands in for the /data volume
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...imageEnv,
      GATEHOUSE_DATA: dataDir,
      ...FREE_PORTS,
      // A cloud that does not answer: the link must dial it (and back off), not fail to load its .proto.
      GATEHOUSE_CLOUD_ENABLED: 'true',
      GATEHOUSE_CLOUD_ADDRESS: `127.0.0.1:${await closedPort()}`,
      GATEHOUSE_CLOUD_HUB_ID: 'hub-release-test',
      GATEHOUSE_CLOUD_TOKEN: 'release-test-token-0123456789',
      GATEHOUSE_CLOUD_INSECURE_PLAINTEXT: 'true',
    };
    expect(cmd[0]).toBe('node');
    const hub = await startProcess([process.execPath, ...cmd.slice(1)], app, env);

    const status = async () => (await callHub(dataDir, 'GET', '/status')).body;
    await expect
      .poll(async () => ((await status()).cloud as { failedAttempts: number }).failedAttempts, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(1);
    const cloud = (await status()).cloud as { state: string; lastError: string | null };
    expect(['connecting', 'waiting']).toContain(cloud.state);
    expect(cloud.lastError).not.toMatch(/proto/i);
    expect(cloud.lastError).toMatch(/UNAVAILABLE|ECONNREFUSED|connect/i);
    expect(JSON.stringify(hub.logs)).not.toMatch(/cannot find gatehouse-cloud\.proto/);

    const httpPort = (hub.deciding.http as { http: number }).http;
    const base = `http://127.0.0.1:${httpPort}`;
    const health = await fetch(`${base}/api/v1/health`);
    expect(health.status).toBe(200);
    // Degraded, not failing: the cloud it dials does not answer (and Node-RED may still be starting).
    expect(((await health.json()) as { status: string }).status).toMatch(/^(ok|degraded)$/);
    const page = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    const asset = /\/assets\/[^"']+\.js/.exec(html)?.[0];
    expect(asset).toBeDefined();
    expect((await fetch(`${base}${asset}`)).status).toBe(200);

    const healthcheck = final.filter((i) => i.keyword === 'HEALTHCHECK').at(-1)!.args;
    const check = execForm(healthcheck.replace(/^.*?CMD\s+/, ''));
    expect((await run(process.execPath, check.slice(1), { cwd: app, env })).code).toBe(0);

    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
    // …and the HEALTHCHECK fails once the hub is gone.
    expect((await run(process.execPath, check.slice(1), { cwd: app, env })).code).toBe(1);
  }, 90_000);
});

describe('deploy/install.sh in a throwaway root', () => {
  let root = '';
  let env: NodeJS.ProcessEnv = {};
  const paths = () => ({
    prefix: path.join(root, 'opt/gatehouse'),
    etc: path.join(root, 'etc/gatehouse'),
    data: path.join(root, 'var/lib/gatehouse'),
    systemd: path.join(root, 'etc/systemd/system'),
    bin: path.join(root, 'usr/local/bin'),
  });

  beforeAll(() => {
    root = path.join(work, 'root');
    mkdirSync(root);
    writeFileSync(path.join(root, 'model'), 'Raspberry Pi 4 Model B Rev 1.4\0');
    writeFileSync(path.join(root, 'os-release'), 'ID=debian\nVERSION_CODENAME=bookworm\n');
    const p = paths();
    env = {
      ...process.env,
      PREFIX: p.prefix,
      ETC_DIR: p.etc,
      DATA_DIR: p.data,
      SYSTEMD_DIR: p.systemd,
      BIN_DIR: p.bin,
      NODE_BIN: process.execPath,
      MODEL_FILE: path.join(root, 'model'),
      OS_RELEASE: path.join(root, 'os-release'),
      SKIP_APT: '1',
      SKIP_USERADD: '1',
      SKIP_SYSTEMCTL: '1',
      NODE_MODULES_DIR: path.join(app, 'node_modules'),
    };
  });

  const install = (args: string[]) => run('bash', [path.join(ROOT, 'deploy/install.sh'), ...args], { env });

  it('refuses an unsupported machine unless told, and then installs', async () => {
    const refused = await install([tarball]);
    if (process.arch !== 'arm64') {
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/not arm64/);
      expect(refused.stderr).toMatch(/--allow-unsupported/);
      expect(existsSync(paths().prefix)).toBe(false);
    }
    const result = await install([tarball, '--allow-unsupported']);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Gatehouse ${VERSION} is installed.`);

    const p = paths();
    expect(readlinkSync(path.join(p.prefix, 'current'))).toBe(VERSION);
    expect(existsSync(path.join(p.prefix, 'current/dist/hub/main.js'))).toBe(true);
    expect(existsSync(path.join(p.prefix, 'current/hub/cloud/gatehouse-cloud.proto'))).toBe(true);
    const installed = readFileSync(path.join(p.etc, 'config.yml'), 'utf8');
    expect(installed.startsWith(renderConfigExample())).toBe(true);
    // The appliance backs itself up; everything else stays at the schema's defaults.
    expect(parseYaml(installed)).toEqual({ version: 1, backups: { enabled: true } });
    expect(statSync(path.join(p.etc, 'config.yml')).mode & 0o777).toBe(0o640);
    expect(statSync(p.data).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(p.bin, 'gatehouse')).mode & 0o111).not.toBe(0);
    expect(readdirSync(p.prefix).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('writes a unit that verifies, and whose ExecStart starts the hub and says READY=1', async () => {
    const p = paths();
    const unitFile = path.join(p.systemd, 'gatehouse.service');
    const unit = readFileSync(unitFile, 'utf8');
    expect(unit).toContain(`ReadWritePaths=${p.data}`);
    expect(unit).toContain(`Environment=GATEHOUSE_CONFIG=${p.etc}/config.yml`);
    expect(await verifyUnit(unitFile)).toEqual({ code: 0, output: '' });

    const line = (key: string) =>
      unit
        .split('\n')
        .filter((l) => l.startsWith(`${key}=`))
        .map((l) => l.slice(key.length + 1));
    const argv = line('ExecStart')[0]!.split(' ');
    const unitEnv = Object.fromEntries(line('Environment').map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
    const notify = fakeNotifySocket(work);
    try {
      const hub = await startProcess(argv, line('WorkingDirectory')[0]!, {
        PATH: process.env.PATH,
        ...unitEnv,
        ...FREE_PORTS,
        NOTIFY_SOCKET: notify.path,
        WATCHDOG_USEC: '30000000',
      });
      await expect.poll(() => notify.messages.some((m) => m.fields.READY === '1')).toBe(true);
      expect(hub.logs[0]).toMatchObject({
        msg: 'starting',
        configFile: `${p.etc}/config.yml`,
        dataDir: p.data,
      });
      hub.child.kill('SIGTERM');
      expect(await hub.exited).toBe(0);
    } finally {
      notify.close();
    }
    expect(existsSync(path.join(p.data, 'gatehouse.db'))).toBe(true);
  }, 90_000);

  it('upgrades in place, keeping the config, the data and the previous version', async () => {
    const p = paths();
    // A "newer" release: the same tree with the next version number.
    const next = `${VERSION}-next.1`;
    const tree = path.join(work, 'next');
    mkdirSync(tree);
    await ok('tar', ['-xzf', tarball, '-C', tree]);
    const pkgFile = path.join(tree, 'package/package.json');
    writeFileSync(
      pkgFile,
      readFileSync(pkgFile, 'utf8').replace(`"version": "${VERSION}"`, `"version": "${next}"`),
    );
    const nextTarball = path.join(work, `gatehouse-${next}.tgz`);
    await ok('tar', ['-czf', nextTarball, '-C', tree, 'package']);

    appendFileSync(path.join(p.etc, 'config.yml'), 'timeZone: Europe/Berlin\n');
    const dbBefore = readFileSync(path.join(p.data, 'gatehouse.db'));
    const result = await install([nextTarball, '--allow-unsupported']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`upgrading Gatehouse ${VERSION} -> ${next}`);
    expect(result.stdout).toMatch(/keeping .*config\.yml/);
    expect(readlinkSync(path.join(p.prefix, 'current'))).toBe(next);
    expect(readFileSync(path.join(p.etc, 'config.yml'), 'utf8')).toContain('timeZone: Europe/Berlin');
    expect(readFileSync(path.join(p.data, 'gatehouse.db')).equals(dbBefore)).toBe(true);
    expect(existsSync(path.join(p.prefix, VERSION, 'dist/hub/main.js'))).toBe(true); // kept for a rollback
  }, 120_000);

  it('refuses a release older than the database schema, and changes nothing', async () => {
    const p = paths();
    const db = new BetterSqlite3(path.join(p.data, 'gatehouse.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const current = readlinkSync(path.join(p.prefix, 'current'));
    const unitBefore = readFileSync(path.join(p.systemd, 'gatehouse.service'), 'utf8');

    const result = await install([tarball, '--allow-unsupported']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `database schema version ${SCHEMA_VERSION + 1} is newer than this Gatehouse understands (${SCHEMA_VERSION})`,
    );
    expect(result.stderr).toContain(`refusing to install ${VERSION}`);
    expect(readlinkSync(path.join(p.prefix, 'current'))).toBe(current);
    expect(readFileSync(path.join(p.systemd, 'gatehouse.service'), 'utf8')).toBe(unitBefore);
    expect(readdirSync(p.prefix).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('--uninstall removes the program and the unit but keeps data and config; --purge removes those too', async () => {
    const p = paths();
    const result = await install(['--uninstall']);
    expect(result.code).toBe(0);
    expect(existsSync(p.prefix)).toBe(false);
    expect(existsSync(path.join(p.systemd, 'gatehouse.service'))).toBe(false);
    expect(existsSync(path.join(p.bin, 'gatehouse'))).toBe(false);
    expect(existsSync(path.join(p.data, 'gatehouse.db'))).toBe(true);
    expect(existsSync(path.join(p.etc, 'config.yml'))).toBe(true);

    expect((await install(['--uninstall', '--purge'])).code).toBe(0);
    expect(existsSync(p.data)).toBe(false);
    expect(existsSync(p.etc)).toBe(false);
  }, 60_000);
});
