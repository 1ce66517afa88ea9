// Command-line entry point of the development cloud: `node dist/deploy/dev-cloud/main.js --help`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { pino } from 'pino';
import { ensureCertificates } from '../../hub/pki/certificates.js';
import { DevCloudAdmin } from './admin.js';
import { DevCloud } from './server.js';

function hostPort(value: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(value);
  if (!match) throw new Error(`expected host:port, got '${value}'`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('gatehouse-dev-cloud')
    .description('Development cloud for the Gatehouse gRPC mirror (not for production).')
    .option('--data <dir>', 'where the SQLite file and TLS files live', './dev-cloud-data')
    .option('--listen <host:port>', 'gRPC address', '127.0.0.1:50051')
    .option('--admin <host:port>', 'admin HTTP address (keep it on 127.0.0.1)', '127.0.0.1:50052')
    .option('--admin-token <token>', 'require this bearer token on the admin API')
    .option('--hostname <name...>', 'names in the server certificate', ['localhost'])
    .option('--hub <id...>', 'register these hubs at start (tokens written to <data>/<id>.token)')
    .option('--client-ca <file>', 'require hub client certificates (mTLS) signed by this CA; CN = hub id')
    .option('--insecure', 'plaintext gRPC without TLS (loopback tests only)', false)
    .parse(argv);
  const opts = program.opts<{
    data: string;
    listen: string;
    admin: string;
    adminToken?: string;
    hostname: string[];
    hub?: string[];
    clientCa?: string;
    insecure: boolean;
  }>();
  const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'info' });
  const tlsDir = join(opts.data, 'tls');
  const tls = opts.insecure
    ? undefined
    : await ensureCertificates(tlsDir, { hostnames: opts.hostname }).then((certs) => ({
        certPem: certs.serverCertPem,
        keyPem: certs.serverKeyPem,
        clientCaPem: opts.clientCa ? readFileSync(opts.clientCa, 'utf8') : undefined,
      }));
  const cloud = new DevCloud({
    dbFile: join(opts.data, 'dev-cloud.db'),
    listen: opts.listen,
    tls,
    insecure: opts.insecure,
    logger,
  });
  const { port } = await cloud.start();
  for (const hubId of opts.hub ?? []) {
    if (cloud.hubs().some((hub) => hub.id === hubId)) continue;
    const token = cloud.addHub(hubId);
    const file = join(opts.data, `${hubId}.token`);
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    logger.info({ hubId, tokenFile: file }, 'hub registered');
  }
  const admin = new DevCloudAdmin(cloud, hostPort(opts.admin), opts.adminToken);
  const adminPort = await admin.start();
  const adminHost = hostPort(opts.admin).host;
  logger.info(
    {
      grpc: `${hostPort(opts.listen).host}:${port}`,
      tls: !opts.insecure,
      caFile: opts.insecure ? null : join(tlsDir, 'ca.crt'),
      admin: `http://${adminHost}:${adminPort}`,
    },
    'dev cloud ready',
  );
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'dev cloud stopping');
    await admin.stop();
    await cloud.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

if (process.argv[1]?.endsWith('/dev-cloud/main.js') || process.argv[1]?.endsWith('/dev-cloud/main.ts')) {
  main(process.argv).catch((err: unknown) => {
    console.error(`dev cloud: ${(err as Error).message}`);
    process.exit(1);
  });
}
