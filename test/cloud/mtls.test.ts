// Mutual TLS: the hub proves its identity with a client certificate whose CN is its hub id.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevCloud } from '../../deploy/dev-cloud/server.js';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import { ensureCertificates } from '../../hub/pki/certificates.js';
import {
  appendEvents,
  HUB_ID,
  mirrorConfig,
  openHub,
  removeDir,
  startMirror,
  type TestHub,
  tempDir,
  waitFor,
} from './helpers.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

async function pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`;
}

/** A client CA and a function issuing client certificates with a given CN. */
async function clientCa() {
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 86_400_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: 'CN=Test hub CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const issue = async (cn: string) => {
    const keys = (await webcrypto.subtle.generateKey(EC, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(8).toString('hex'),
      subject: `CN=${cn}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: SIGN,
      extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    });
    return { certPem: cert.toString('pem'), keyPem: await pem(keys.privateKey) };
  };
  return { caPem: ca.toString('pem'), issue };
}

describe('mutual TLS', () => {
  let dir: string;
  let hub: TestHub;
  let cloud: DevCloud;
  let mirror: CloudMirror | undefined;
  let issue: (cn: string) => Promise<{ certPem: string; keyPem: string }>;
  let serverCaFile: string;

  beforeEach(async () => {
    dir = tempDir();
    hub = openHub(dir);
    const server = await ensureCertificates(join(dir, 'cloud-tls'), { hostnames: ['localhost'] });
    serverCaFile = join(dir, 'cloud-tls', 'ca.crt');
    const clients = await clientCa();
    issue = clients.issue;
    cloud = new DevCloud({
      dbFile: join(dir, 'cloud.db'),
      listen: '127.0.0.1:0',
      tls: { certPem: server.serverCertPem, keyPem: server.serverKeyPem, clientCaPem: clients.caPem },
    });
    await cloud.start();
    cloud.addHub(HUB_ID);
  });

  afterEach(async () => {
    await mirror?.stop();
    mirror = undefined;
    await cloud.stop();
    await hub.close();
    removeDir(dir);
  });

  const withCertificate = async (cn: string) => {
    const { certPem, keyPem } = await issue(cn);
    writeFileSync(join(dir, 'hub.crt'), certPem);
    writeFileSync(join(dir, 'hub.key'), keyPem, { mode: 0o600 });
    const config = mirrorConfig(
      { port: cloud.port, caFile: serverCaFile, token: 'unused-token-unused' },
      { certFile: join(dir, 'hub.crt'), keyFile: join(dir, 'hub.key') },
    );
    return startMirror(hub.store, { ...config, token: undefined });
  };

  it('a hub with a certificate for its own id connects without a token and mirrors its events', async () => {
    appendEvents(hub.store, 20);
    mirror = await withCertificate(HUB_ID);
    await mirror.start();
    await waitFor(
      () => mirror!.status().connected && mirror!.status().backlog === 0,
      8000,
      'drained over mTLS',
    );
    expect(cloud.events(HUB_ID, 0, 100)).toHaveLength(20);
  });

  it('a certificate issued to another hub is refused', async () => {
    mirror = await withCertificate('some-other-hub');
    await mirror.start();
    await waitFor(() => mirror!.status().failedAttempts >= 1, 5000, 'refused');
    expect(mirror.status().connected).toBe(false);
    expect(mirror.status().lastError).toContain('unauthenticated');
  });
});
