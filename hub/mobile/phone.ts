// A phone simulator: holds an Ed25519 key pair and a mobile key certificate in a JSON file and
// performs the challenge–response exchange, for tests, demos and app developers (docs/mobile-keys.md).
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { answerChallenge, decodeCertificate, rawPublicKey, toBase64url } from './certificate.js';

const PhoneFileSchema = Type.Object(
  {
    v: Type.Literal(1),
    privateKey: Type.String({ minLength: 1, maxLength: 4096 }),
    publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    certificate: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  },
  { additionalProperties: false },
);
type PhoneFile = Static<typeof PhoneFileSchema>;
const phoneFileCheck = Compile(PhoneFileSchema);

export class Phone {
  readonly privateKey: KeyObject;
  readonly publicKey: string;
  certificate: string | null;

  constructor(privateKey: KeyObject, certificate: string | null = null) {
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('a phone key must be Ed25519');
    this.privateKey = privateKey;
    this.publicKey = toBase64url(rawPublicKey(privateKey));
    this.certificate = certificate;
  }

  static generate(): Phone {
    return new Phone(generateKeyPairSync('ed25519').privateKey);
  }

  static load(file: string): Phone {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read phone file ${file}: ${(err as Error).message}`);
    }
    if (!phoneFileCheck.Check(json))
      throw new Error(`${file} is not a phone file (create one with \`gatehouse phone init\`)`);
    const phone = new Phone(createPrivateKey(json.privateKey), json.certificate ?? null);
    if (phone.publicKey !== json.publicKey)
      throw new Error(`${file}: public key does not match the private key`);
    return phone;
  }

  /** Writes the file atomically with mode 0600 (it holds the phone's private key). */
  save(file: string): void {
    const data: PhoneFile = {
      v: 1,
      privateKey: this.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
      publicKey: this.publicKey,
      ...(this.certificate ? { certificate: this.certificate } : {}),
    };
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(data, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }

  /** Installs a certificate issued for this phone; refuses one bound to another phone's key. */
  install(certificate: string): void {
    const decoded = decodeCertificate(certificate);
    if (!decoded.ok) throw new Error(`not a mobile key: ${decoded.error}`);
    if (decoded.value.body.phonePublicKey !== this.publicKey) {
      throw new Error('this mobile key was issued for another phone key');
    }
    this.certificate = certificate;
  }

  /** Signs a challenge for a door; returns the response text (base64url). */
  answer(challenge: string, doorId: string): string {
    if (!this.certificate) throw new Error('this phone holds no mobile key yet (gatehouse mobile issue …)');
    return answerChallenge(this.certificate, this.privateKey, challenge, doorId);
  }
}

/** One request to the hub's API v1 (local socket or HTTP). */
export type HubRequest = (
  path: string,
  body: Record<string, unknown>,
) => Promise<{ status: number; body: Record<string, unknown> }>;

export interface PresentResult {
  granted: boolean;
  reason: string;
  error?: string;
}

/** The whole exchange over the LAN API: challenge, sign, respond. */
export async function presentOverApi(
  phone: Phone,
  doorId: string,
  request: HubRequest,
): Promise<PresentResult> {
  const challenged = await request('/mobile/challenge', { door: doorId });
  if (challenged.status !== 200 || typeof challenged.body.challenge !== 'string') {
    throw new Error(String(challenged.body.error ?? `challenge refused (HTTP ${challenged.status})`));
  }
  const response = phone.answer(challenged.body.challenge, doorId);
  const answered = await request('/mobile/respond', { door: doorId, response });
  if (answered.status !== 200) throw new Error(String(answered.body.error ?? `HTTP ${answered.status}`));
  const { granted, reason, error } = answered.body;
  return {
    granted: granted === true,
    reason: typeof reason === 'string' ? reason : 'invalid_request',
    ...(typeof error === 'string' ? { error } : {}),
  };
}

/** A HubRequest over plain HTTP(S) with fetch, e.g. http://127.0.0.1:8080. */
export function httpRequester(baseUrl: string): HubRequest {
  const base = baseUrl.replace(/\/+$/, '');
  return async (path, body) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { error: text };
    }
    return { status: res.status, body: parsed };
  };
}
