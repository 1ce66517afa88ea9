// The hub's CA and server certificate: created once, reused, re-issued only when needed.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureCertificates } from '../../hub/pki/certificates.js';

describe('ensureCertificates', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-pki-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('at first boot writes a P-256 CA and a server certificate it signed, keys readable by the owner only', async () => {
    const certs = await ensureCertificates(dir, { hostnames: ['gatehouse.local'], ips: ['192.168.1.20'] });
    const ca = new X509Certificate(certs.caCertPem);
    const server = new X509Certificate(certs.serverCertPem);

    expect(ca.ca).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName?.split(', ').sort()).toEqual(
      ['DNS:gatehouse.local', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:192.168.1.20'].sort(),
    );
    expect(server.checkHost('gatehouse.local')).toBe('gatehouse.local');
    expect(server.checkIP('192.168.1.20')).toBe('192.168.1.20');
    const years = (pem: X509Certificate) =>
      (Date.parse(pem.validTo) - Date.now()) / (365.25 * 24 * 3600 * 1000);
    expect(years(ca)).toBeGreaterThan(9.9);
    expect(years(server)).toBeGreaterThan(1.9);
    expect(years(server)).toBeLessThan(2.1);

    for (const file of ['ca.key', 'server.key'])
      expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(certs.caCertPem);
    expect(await readFile(join(dir, 'server.key'), 'utf8')).toBe(certs.serverKeyPem);
  });

  it('later boots reuse both certificates unchanged', async () => {
    const first = await ensureCertificates(dir, { hostnames: ['gatehouse.local'] });
    const second = await ensureCertificates(dir, { hostnames: ['GATEHOUSE.local'] });
    expect(second).toEqual(first);
  });

  it('a changed hostname re-issues the server certificate and keeps the CA', async () => {
    const first = await ensureCertificates(dir, { hostnames: ['gatehouse.local'] });
    const second = await ensureCertificates(dir, { hostnames: ['gatehouse.local', 'hub.example.org'] });
    expect(second.caCertPem).toBe(first.caCertPem);
    expect(second.serverCertPem).not.toBe(first.serverCertPem);
    const server = new X509Certificate(second.serverCertPem);
    expect(server.checkHost('hub.example.org')).toBe('hub.example.org');
    expect(server.checkIssued(new X509Certificate(first.caCertPem))).toBe(true);
  });

  it('an expired server certificate is re-issued under the same CA', async () => {
    const old = await ensureCertificates(dir, {
      hostnames: ['gatehouse.local'],
      now: new Date('2021-01-01T00:00:00Z'),
    });
    expect(Date.parse(new X509Certificate(old.serverCertPem).validTo)).toBeLessThan(Date.now());
    const renewed = await ensureCertificates(dir, { hostnames: ['gatehouse.local'] });
    expect(renewed.caCertPem).toBe(old.caCertPem);
    expect(Date.parse(new X509Certificate(renewed.serverCertPem).validTo)).toBeGreaterThan(Date.now());
  });

  it('a damaged server key is replaced; a damaged CA starts over', async () => {
    const first = await ensureCertificates(dir, { hostnames: ['gatehouse.local'] });
    await writeFile(join(dir, 'server.key'), 'garbage');
    const repaired = await ensureCertificates(dir, { hostnames: ['gatehouse.local'] });
    expect(repaired.caCertPem).toBe(first.caCertPem);
    expect(repaired.serverKeyPem).not.toBe('garbage');

    await writeFile(join(dir, 'ca.crt'), 'garbage');
    const fresh = await ensureCertificates(dir, { hostnames: ['gatehouse.local'] });
    expect(fresh.caCertPem).not.toBe(first.caCertPem);
    expect(new X509Certificate(fresh.serverCertPem).checkIssued(new X509Certificate(fresh.caCertPem))).toBe(
      true,
    );
  });

  it('refuses an IP option that is not an IP address', async () => {
    await expect(ensureCertificates(dir, { hostnames: [], ips: ['not-an-ip'] })).rejects.toThrow(/not an IP/);
  });
});
