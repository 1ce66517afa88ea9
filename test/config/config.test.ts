import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../../hub/config/docs.js';
import { ConfigError, loadConfig } from '../../hub/config/index.js';

const dirs: string[] = [];
function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-config-'));
  dirs.push(dir);
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('runs on embedded defaults with no file', () => {
    const { config, file } = loadConfig({ env: { GATEHOUSE_DATA: '/nonexistent-gh' } });
    expect(file).toBeNull();
    expect(config.dataDir).toBe('/nonexistent-gh');
    expect(config.mqtt.tcp).toEqual({ enabled: true, host: '127.0.0.1', port: 1883 });
    expect(config.mqtt.tls).toEqual({ enabled: true, host: '0.0.0.0', port: 8883 });
    expect(config.http.http).toEqual({ enabled: true, host: '127.0.0.1', port: 8080 });
    expect(config.http.https.port).toBe(8443);
    expect(config.keypad.maxFailures).toBe(5);
  });

  it('reads YAML and applies GATEHOUSE_* overrides on top', () => {
    const file = tempFile('c.yaml', 'timeZone: Europe/Berlin\nmqtt:\n  tls:\n    port: 18883\n');
    const { config } = loadConfig({
      file,
      env: { GATEHOUSE_MQTT_TLS_PORT: '28883', GATEHOUSE_HTTP_HTTPS_ENABLED: 'false' },
    });
    expect(config.timeZone).toBe('Europe/Berlin');
    expect(config.mqtt.tls.port).toBe(28883);
    expect(config.http.https.enabled).toBe(false);
  });

  it('lists every problem by path with a hint, instead of starting', () => {
    const file = tempFile(
      'bad.yaml',
      'timeZone: Mars/Olympus\nmqtt:\n  tls:\n    prot: 1\n    port: "x"\nkeypad:\n  maxFailures: 0\n',
    );
    const problems = problemsOf(() => loadConfig({ file, env: {} }));
    expect(problems).toContain('mqtt.tls: unknown setting "prot" (check the spelling)');
    expect(problems.some((p) => p.startsWith('mqtt.tls.port:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('keypad.maxFailures:'))).toBe(true);
    expect(problems.some((p) => p.includes('Mars/Olympus') && p.includes('IANA'))).toBe(true);
  });

  it('refuses broken YAML, a missing explicit file and a bad env value', () => {
    expect(problemsOf(() => loadConfig({ file: tempFile('x.yaml', 'mqtt: [1, 2\n'), env: {} }))[0]).toMatch(
      /not valid YAML/,
    );
    expect(problemsOf(() => loadConfig({ file: '/no/such/gatehouse.yaml', env: {} }))).toEqual([
      'the file does not exist',
    ]);
    expect(problemsOf(() => loadConfig({ env: { GATEHOUSE_MQTT_TLS_PORT: 'eighty' } }))[0]).toMatch(
      /GATEHOUSE_MQTT_TLS_PORT="eighty" is not a number/,
    );
    expect(problemsOf(() => loadConfig({ file: tempFile('list.yaml', '- a\n- b\n'), env: {} }))[0]).toMatch(
      /top level/,
    );
  });

  it('docs/configuration.md is generated from the schema and up to date', () => {
    const onDisk = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(onDisk).toBe(renderConfigDocs());
  });
});
