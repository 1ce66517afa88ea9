// The operator's and the phone simulator's commands, against a hub API on the local control socket.
import { createPublicKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import rateLimit from '@fastify/rate-limit';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { callHub, SOCKET_NAME } from '../../hub/cli/hub-client.js';
import { registerPhoneCommands } from '../../hub/cli/phone.js';
import { registerMobileRoutes } from '../../hub/mobile/http.js';
import { Phone, presentOverApi } from '../../hub/mobile/phone.js';
import { type Building, building } from './helpers.js';

let b: Building;
let app: FastifyInstance;
let out: string[];

async function run(...args: string[]): Promise<string> {
  const program = new Command('gatehouse').exitOverride();
  registerPhoneCommands(program, {
    io: { out: (line) => out.push(line), err: (line) => out.push(`ERR ${line}`) },
    settings: () => ({ dataDir: b.dataDir, timeZone: 'Europe/Berlin', json: false }),
  });
  out = [];
  await program.parseAsync(args, { from: 'user' });
  return out.join('\n');
}

beforeEach(async () => {
  b = await building({ realClock: true });
  // Configured like hub/http/app.ts: TypeBox validation, nothing silently removed or coerced.
  app = Fastify({ ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } });
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  await app.register(rateLimit, { global: false });
  await app.register(async (api) => registerMobileRoutes(api, { mobile: b.mobile, store: b.opened.store }), {
    prefix: '/api/v1',
  });
  await app.listen({ path: path.join(b.dataDir, SOCKET_NAME) });
});
afterEach(async () => {
  await app.close();
  await b.cleanup();
});

describe('gatehouse phone / mobile / person logout-everywhere', () => {
  it('creates a phone, issues it a key, opens the door, and logging out everywhere closes it', async () => {
    const file = path.join(b.dataDir, 'phone.json');
    expect(await run('phone', 'init', file)).toMatch(/public key: [A-Za-z0-9_-]{43}/);
    expect(statSync(file).mode & 0o077).toBe(0);

    const issued = await run(
      'mobile',
      'issue',
      'anna',
      '--phone-key',
      file,
      '--door',
      'front',
      '--label',
      'Anna phone',
    );
    expect(issued).toMatch(/mobile key 'c_[^']+' issued for 'anna' \(epoch 0\)/);
    expect(issued).toContain(`installed in ${file}`);
    expect(JSON.parse(readFileSync(file, 'utf8')).certificate).toMatch(/^gh1\./);

    expect(await run('phone', 'present', file, '--door', 'front')).toBe('GRANTED (granted)');
    expect(await run('phone', 'present', file, '--door', 'back')).toMatch(/^DENIED \(no_access\)/);

    expect(await run('person', 'logout-everywhere', 'anna')).toContain('key epoch is now 1');
    expect(await run('phone', 'present', file, '--door', 'front')).toMatch(/^DENIED \(revoked\)/);
  });

  it('revokes one mobile key and lists it as revoked', async () => {
    const file = path.join(b.dataDir, 'phone.json');
    await run('phone', 'init', file);
    const issued = await run(
      'mobile',
      'issue',
      'anna',
      '--phone-key',
      file,
      '--door',
      'front',
      '--days',
      '7',
    );
    const id = /mobile key '([^']+)'/.exec(issued)![1]!;
    expect(await run('mobile', 'revoke', id)).toBe(`mobile key '${id}' revoked`);
    expect(await run('mobile', 'list', '--person', 'anna')).toMatch(new RegExp(`${id} .*REVOKED`));
    expect(await run('phone', 'present', file, '--door', 'front')).toMatch(/^DENIED \(revoked\)/);
  });

  it('issues for a phone key given as raw base64url or as PEM (what an app exports)', async () => {
    const phone = Phone.generate();
    const raw = path.join(b.dataDir, 'phone.pub');
    writeFileSync(raw, `${phone.publicKey}\n`);
    const pem = path.join(b.dataDir, 'phone.pem');
    writeFileSync(pem, createPublicKey(phone.privateKey).export({ format: 'pem', type: 'spki' }) as string);
    for (const file of [raw, pem]) {
      const out = await run('mobile', 'issue', 'anna', '--phone-key', file, '--door', 'front');
      const certificate = out.split('\n').find((line) => line.startsWith('gh1.'))!;
      phone.install(certificate);
      expect(
        await presentOverApi(phone, 'front', (p, body) => callHub(b.dataDir, 'POST', p, body)),
      ).toMatchObject({
        granted: true,
      });
    }
  });

  it('prints the issuer public key that door controllers and the cloud pin', async () => {
    expect(await run('mobile', 'issuer-key')).toBe(b.issuer.publicKeyText());
  });

  it('refuses to issue without a scope, for an unknown door, or for a non-key file', async () => {
    const file = path.join(b.dataDir, 'phone.json');
    await run('phone', 'init', file);
    await expect(run('mobile', 'issue', 'anna', '--phone-key', file)).rejects.toThrow(
      /at least one door or group/,
    );
    await expect(run('mobile', 'issue', 'anna', '--phone-key', file, '--door', 'nope')).rejects.toThrow(
      /door 'nope'/,
    );
    await expect(
      run('mobile', 'issue', 'anna', '--phone-key', path.join(b.dataDir, 'hub.key'), '--door', 'front'),
    ).rejects.toThrow(/public key must be 32 bytes base64url/);
  });
});
