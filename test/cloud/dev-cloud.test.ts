// The development cloud on its own: the admin CLI over HTTP, de-duplication and the hash chain check.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevCloudAdmin } from '../../deploy/dev-cloud/admin.js';
import { buildCli } from '../../deploy/dev-cloud/cli.js';
import { DevCloud } from '../../deploy/dev-cloud/server.js';
import { loadHubLink } from '../../hub/cloud/hub-link.js';
import { AUTH_HEADER, HUB_ID_HEADER } from '../../hub/cloud/proto.js';
import { eventHash, GENESIS_HASH } from '../../hub/store/events.js';
import { removeDir, tempDir, waitFor } from './helpers.js';

function wireEvent(seq: number, prevHash: string) {
  const event = {
    seq,
    ts: 1_700_000_000_000 + seq,
    type: 'decision',
    doorId: 'front',
    personId: null,
    credentialId: null,
    data: { n: seq },
  };
  const hash = eventHash(prevHash, event);
  return {
    wire: {
      seq,
      ts: event.ts,
      type: event.type,
      door_id: 'front',
      person_id: '',
      credential_id: '',
      data_json: JSON.stringify(event.data),
      prev_hash: prevHash,
      hash,
    },
    hash,
  };
}

describe('development cloud', () => {
  let dir: string;
  let cloud: DevCloud;
  let admin: DevCloudAdmin;
  let adminUrl: string;

  beforeEach(async () => {
    dir = tempDir();
    cloud = new DevCloud({ dbFile: join(dir, 'cloud.db'), listen: '127.0.0.1:0', insecure: true });
    await cloud.start();
    admin = new DevCloudAdmin(cloud, { host: '127.0.0.1', port: 0 });
    adminUrl = `http://127.0.0.1:${await admin.start()}`;
  });

  afterEach(async () => {
    await admin.stop();
    await cloud.stop();
    removeDir(dir);
  });

  const runCli = async (...args: string[]): Promise<unknown> => {
    const chunks: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      chunks.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      await buildCli().parseAsync(['node', 'cli', '--url', adminUrl, ...args]);
    } finally {
      process.stdout.write = write;
    }
    return JSON.parse(chunks.join(''));
  };

  it('the CLI registers a hub, adds a person and a card, suspends, revokes and logs out everywhere', async () => {
    const added = (await runCli('add-hub', 'hub-9')) as { id: string; token: string };
    expect(added.id).toBe('hub-9');
    expect(added.token.length).toBeGreaterThanOrEqual(24);
    await runCli('person', 'hub-9', 'carl', 'Carl', '--groups', 'residents');
    await runCli('credential', 'hub-9', 'carl-card', 'carl', 'card', '04CA0001');
    await runCli('suspend', 'hub-9', 'carl');
    await runCli('logout-everywhere', 'hub-9', 'carl');
    await runCli('revoke', 'hub-9', 'carl-card');
    const changes = (await runCli('changes', 'hub-9')) as Array<{
      change_no: number;
      kind: string;
      data: string;
    }>;
    expect(changes.map((c) => c.change_no)).toEqual([1, 2, 3, 4, 5]);
    expect(JSON.parse(changes[4]!.data)).toMatchObject({ personId: 'carl', revoked: true });
    expect(JSON.parse(changes[3]!.data)).toMatchObject({
      suspended: true,
      keyEpoch: 1,
      groupIds: ['residents'],
    });
    const hubs = (await runCli('hubs')) as Array<{ id: string; connected: boolean; latestChange: number }>;
    expect(hubs).toEqual([expect.objectContaining({ id: 'hub-9', connected: false, latestChange: 5 })]);
  });

  it('the CLI revokes an offline doorcode by serial; the admin API refuses a malformed serial', async () => {
    await runCli('add-hub', 'hub-9');
    const serial = 'oc-abcdefgh2345';
    expect(await runCli('revoke-code', 'hub-9', serial, '--reason', 'lost')).toEqual({ changeNo: 1 });
    const changes = (await runCli('changes', 'hub-9')) as Array<{
      kind: string;
      op: string;
      id: string;
      data: string;
    }>;
    expect(changes).toEqual([expect.objectContaining({ kind: 'code_revocation', op: 'upsert', id: serial })]);
    expect(JSON.parse(changes[0]!.data)).toEqual({ serial, reason: 'lost' });

    const response = await fetch(`${adminUrl}/hubs/hub-9/codes/oc-1234/revoke`, { method: 'POST' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe("invalid code_revocation id 'oc-1234'");
    expect(cloud.store.latestChange('hub-9')).toBe(1);
  });

  it('refuses a change the hub would refuse, with the reason', async () => {
    cloud.addHub('hub-9');
    const response = await fetch(`${adminUrl}/hubs/hub-9/changes`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'person', op: 'upsert', id: 'x', data: { name: 'X', kind: 'superuser' } }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain('person x: /kind');
  });

  it('stores each event once (by hub id + seq) and refuses a broken hash chain', async () => {
    const token = cloud.addHub('raw-hub');
    const { Client } = loadHubLink();
    const client = new Client(`127.0.0.1:${cloud.port}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set(AUTH_HEADER, `Bearer ${token}`);
    metadata.set(HUB_ID_HEADER, 'raw-hub');
    const call = client.Connect(metadata);
    const received: Array<Record<string, unknown>> = [];
    call.on('data', (m: Record<string, unknown>) => received.push(m));
    call.on('error', () => {});
    call.write({
      body: 'hello',
      hello: {
        hub_id: 'raw-hub',
        protocol_version: 1,
        last_change: 0,
        acked_seq: 0,
        last_seq: 3,
        software: 'raw',
      },
    });
    const e1 = wireEvent(1, GENESIS_HASH);
    const e2 = wireEvent(2, e1.hash);
    const e3 = wireEvent(3, e2.hash);
    call.write({ body: 'events', events: { events: [e1.wire, e2.wire] } });
    call.write({ body: 'events', events: { events: [e1.wire, e2.wire, e3.wire] } }); // a resend after a lost ack
    await waitFor(() => received.filter((m) => m['body'] === 'event_ack').length === 2, 5000, 'two acks');
    expect(cloud.events('raw-hub', 0, 10).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(cloud.duplicatesIgnored).toBe(2);

    const forged = wireEvent(4, 'f'.repeat(64)); // does not link to seq 3
    call.write({ body: 'events', events: { events: [forged.wire] } });
    await waitFor(() => received.some((m) => m['body'] === 'error'), 5000, 'error reply');
    expect(received.find((m) => m['body'] === 'error')).toMatchObject({ error: { code: 'hash_mismatch' } });
    expect(cloud.events('raw-hub', 0, 10)).toHaveLength(3);
    call.cancel();
    client.close();
  });
});
