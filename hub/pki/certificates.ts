// The hub's own small PKI: one CA generated at first boot, and a server certificate signed by it
// for the MQTT TLS listener (8883) and the HTTPS server. Devices and browsers trust ca.crt.
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { tightenSecretFileMode } from '../secret-file.js';

type CryptoKey = webcrypto.CryptoKey;
type X509Lib = typeof import('@peculiar/x509');

let x509Lib: Promise<X509Lib> | null = null;

/**
 * The certificate generator (about 13 MiB resident) is loaded only when a certificate must be made,
 * at first boot or renewal; an ordinary boot checks the files with node:crypto alone.
 */
function loadX509(): Promise<X509Lib> {
  x509Lib ??= (async () => {
    await import('reflect-metadata'); // @peculiar/x509 needs the Reflect metadata polyfill (tsyringe)
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<typeof lib.cryptoProvider.set>[0]);
    return lib;
  })();
  return x509Lib;
}

export interface CertificateOptions {
  /** DNS names the hub is reached by (e.g. `gatehouse.local`). `localhost` is always added. */
  hostnames: string[];
  /** IP addresses the hub is reached by. `127.0.0.1` is always added. */
  ips?: string[];
  /** Clock for validity checks and new certificates; tests inject it. */
  now?: Date;
}

export interface HubCertificates {
  caCertPem: string;
  serverKeyPem: string;
  serverCertPem: string;
}

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const SERVER_CERT_FILE = 'server.crt';
export const SERVER_KEY_FILE = 'server.key';

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_DAYS = 3650;
const SERVER_VALIDITY_DAYS = 730;
/** Renew a little before expiry so a hub that reboots rarely never serves an expired certificate. */
const RENEW_BEFORE_DAYS = 30;
const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

interface CertificateAuthority {
  cert: X509Certificate;
  certPem: string;
  keyPem: string;
}

/**
 * Loads the hub's CA and server certificate from `dir`, creating what is missing.
 * The CA is kept for as long as it is valid (devices trust it); the server certificate is
 * re-issued when it is missing, expiring, not signed by the CA, or its names changed.
 */
export async function ensureCertificates(dir: string, opts: CertificateOptions): Promise<HubCertificates> {
  const now = opts.now ?? new Date();
  const names = desiredNames(opts);
  await mkdir(dir, { recursive: true, mode: 0o755 });

  let ca = await loadCertificateAuthority(dir, now);
  let caIsNew = false;
  if (!ca) {
    ca = await createCertificateAuthority(now);
    await writeAtomic(join(dir, CA_KEY_FILE), ca.keyPem, 0o600);
    await writeAtomic(join(dir, CA_CERT_FILE), ca.certPem, 0o644);
    caIsNew = true;
  }

  const existing = caIsNew ? null : await loadServerCertificate(dir, ca, names, now);
  if (existing) return { caCertPem: ca.certPem, ...existing };

  const server = await createServerCertificate(ca, names, now);
  await writeAtomic(join(dir, SERVER_KEY_FILE), server.serverKeyPem, 0o600);
  await writeAtomic(join(dir, SERVER_CERT_FILE), server.serverCertPem, 0o644);
  return { caCertPem: ca.certPem, ...server };
}

interface SubjectNames {
  dns: string[];
  ips: string[];
}

function desiredNames(opts: CertificateOptions): SubjectNames {
  const dns = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1']);
  for (const raw of opts.hostnames) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    // An IP given as a hostname belongs in the IP SAN, where TLS clients look for it.
    if (isIP(name)) ips.add(name);
    else dns.add(name);
  }
  for (const raw of opts.ips ?? []) {
    const ip = raw.trim();
    if (!isIP(ip)) throw new Error(`certificate: '${raw}' is not an IP address`);
    ips.add(ip);
  }
  return { dns: [...dns].sort(), ips: [...ips].sort() };
}

async function loadCertificateAuthority(dir: string, now: Date): Promise<CertificateAuthority | null> {
  const certPem = await readOptional(join(dir, CA_CERT_FILE));
  const keyPem = await readOptional(join(dir, CA_KEY_FILE));
  if (certPem === null || keyPem === null) return null;
  try {
    const cert = new X509Certificate(certPem);
    if (Date.parse(cert.validTo) - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return null;
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return null;
    tightenSecretFileMode(join(dir, CA_KEY_FILE), 'CA key');
    return { cert, certPem, keyPem };
  } catch {
    return null;
  }
}

async function loadServerCertificate(
  dir: string,
  ca: CertificateAuthority,
  names: SubjectNames,
  now: Date,
): Promise<Omit<HubCertificates, 'caCertPem'> | null> {
  const certPem = await readOptional(join(dir, SERVER_CERT_FILE));
  const keyPem = await readOptional(join(dir, SERVER_KEY_FILE));
  if (certPem === null || keyPem === null) return null;
  try {
    const cert = new X509Certificate(certPem);
    if (Date.parse(cert.validFrom) > now.getTime()) return null;
    if (Date.parse(cert.validTo) - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return null;
    if (!cert.verify(ca.cert.publicKey)) return null;
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return null;
    if (!sameNames(certificateNames(cert), names)) return null;
    tightenSecretFileMode(join(dir, SERVER_KEY_FILE), 'TLS server key');
    return { serverKeyPem: keyPem, serverCertPem: certPem };
  } catch {
    return null;
  }
}

async function createCertificateAuthority(now: Date): Promise<CertificateAuthority> {
  const x509 = await loadX509();
  const keys = await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
  // A short random suffix keeps CAs of different hubs apart in a shared trust store.
  const name = `CN=Gatehouse Hub CA ${randomBytes(4).toString('hex')}, O=Gatehouse`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return { cert: new X509Certificate(certPem), certPem, keyPem: await privateKeyPem(keys.privateKey) };
}

async function createServerCertificate(
  ca: CertificateAuthority,
  names: SubjectNames,
  now: Date,
): Promise<Omit<HubCertificates, 'caCertPem'>> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
  const commonName = names.dns.find((n) => n !== 'localhost') ?? 'localhost';
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${commonName.replace(/[,+=<>#;"\\]/g, '')}, O=Gatehouse`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + SERVER_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: await importPrivateKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { serverKeyPem: await privateKeyPem(keys.privateKey), serverCertPem: cert.toString('pem') };
}

/** Names from node's SAN text, e.g. "DNS:localhost, IP Address:127.0.0.1". */
function certificateNames(cert: X509Certificate): SubjectNames {
  const dns: string[] = [];
  const ips: string[] = [];
  for (const part of (cert.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('DNS:')) dns.push(part.slice(4).toLowerCase());
    else if (part.startsWith('IP Address:')) ips.push(part.slice(11));
  }
  return { dns: dns.sort(), ips: ips.sort() };
}

function sameNames(a: SubjectNames, b: SubjectNames): boolean {
  return a.dns.join('\n') === b.dns.join('\n') && a.ips.join('\n') === b.ips.join('\n');
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, EC_ALGORITHM, false, ['sign']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({
    format: 'pem',
    type: 'pkcs8',
  }) as string;
}

/** A positive 128-bit serial (the top bit clear so DER does not read it as negative). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Write to a temp file and rename, so a power cut never leaves half a key behind. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode });
  await chmod(temp, mode);
  await rename(temp, path);
}
