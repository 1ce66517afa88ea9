import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../hub/cloud/backoff.js';
import { isDenyChange, parseChange, resolveChange } from '../../hub/cloud/changes.js';
import { parseCloudConfig } from '../../hub/cloud/config.js';
import { MAX_CHANGE_DATA_BYTES } from '../../hub/cloud/proto.js';

describe('reconnect back-off', () => {
  it('starts at 1 s, doubles, caps at 5 min, and always jitters within its step', () => {
    const low = () => 0;
    const high = () => 0.999999;
    expect(backoffDelay(0, 1000, 300_000, low)).toBe(1000);
    expect(backoffDelay(0, 1000, 300_000, high)).toBe(2000);
    expect(backoffDelay(3, 1000, 300_000, low)).toBe(8000);
    expect(backoffDelay(20, 1000, 300_000, low)).toBe(150_000);
    expect(backoffDelay(20, 1000, 300_000, high)).toBe(300_000);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(5, 1000, 300_000)));
    expect(spread.size).toBeGreaterThan(10); // hubs that lost the cloud together do not return together
    for (const d of spread) expect(d).toBeGreaterThanOrEqual(32_000);
  });
});

describe('cloud config', () => {
  it('has safe defaults: disabled, TLS, batches of 500, 1 s – 5 min back-off', () => {
    const config = parseCloudConfig({});
    expect(config).toMatchObject({
      enabled: false,
      insecurePlaintext: false,
      batchSize: 500,
      backoff: { minMs: 1000, maxMs: 300_000 },
    });
  });

  it('explains what is wrong', () => {
    expect(() => parseCloudConfig({ enabled: true, address: 'cloud:443' })).toThrow(
      'cloud.hubId is required',
    );
    expect(() => parseCloudConfig({ enabled: true, hubId: 'h1', address: 'cloud:443' })).toThrow(
      'GATEHOUSE_CLOUD_TOKEN',
    );
    expect(() => parseCloudConfig({ batchSize: 0 })).toThrow(/cloud\/batchSize/);
    expect(() => parseCloudConfig({ address: 'no port' })).toThrow(/cloud\/address/);
    expect(() => parseCloudConfig({ certFile: '/x.crt' })).toThrow('certFile and cloud.keyFile go together');
    expect(() => parseCloudConfig({ backoff: { minMs: 5000, maxMs: 1000 } })).toThrow(
      'maxMs must be >= minMs',
    );
  });
});

describe('the deny-wins rule on its own', () => {
  const person = (data: Record<string, unknown>, basedOnSeq: number) => {
    const parsed = parseChange({
      change_no: 1,
      based_on_seq: basedOnSeq,
      kind: 'person',
      op: 'upsert',
      id: 'p1',
      data_json: JSON.stringify({ name: 'P', ...data }),
      ts: 0,
    });
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.change;
  };

  it('keeps a local suspension newer than what the cloud saw, and lets an informed change through', () => {
    const local = { denied: true, keyEpoch: 0 };
    expect(resolveChange(person({ suspended: false }, 10), local, 11).write).toMatchObject({
      data: { suspended: true },
    });
    expect(resolveChange(person({ suspended: false }, 11), local, 11).write).toMatchObject({
      data: { suspended: false },
    });
    expect(resolveChange(person({ suspended: false }, 10), local, null).conflict).toBeNull();
  });

  it('never lowers a key epoch and never re-creates a locally deleted record from a stale copy', () => {
    expect(
      resolveChange(person({ keyEpoch: 1 }, 50), { denied: false, keyEpoch: 3 }, null).write,
    ).toMatchObject({
      data: { keyEpoch: 3 },
    });
    expect(resolveChange(person({}, 5), null, 6)).toMatchObject({ write: null });
    expect(resolveChange(person({}, 6), null, 6).write).not.toBeNull();
  });
});

describe('cloud change limits and deny classification', () => {
  const wire = (kind: string, op: string, data: unknown) => ({
    change_no: 1,
    based_on_seq: 0,
    kind,
    op,
    id: 'x1',
    data_json: typeof data === 'string' ? data : JSON.stringify(data),
    ts: 0,
  });

  it('rejects a change over 256 KiB with its size and the limit, before parsing it', () => {
    const big = wire('person', 'upsert', { name: 'Big', notes: 'é'.repeat(MAX_CHANGE_DATA_BYTES / 2) });
    const result = parseChange(big);
    expect(result).toEqual({
      ok: false,
      reason: `person x1: data_json is ${Buffer.byteLength(big.data_json)} bytes, over the limit of ${MAX_CHANGE_DATA_BYTES} bytes per change`,
    });
    expect(parseChange(wire('person', 'upsert', { name: 'Small', notes: 'n'.repeat(1000) })).ok).toBe(true);
  });

  it('knows which changes take access away', () => {
    expect(isDenyChange(wire('credential', 'upsert', { revoked: true }))).toBe(true);
    expect(isDenyChange(wire('credential', 'delete', ''))).toBe(true);
    expect(isDenyChange(wire('person', 'upsert', { name: 'A', suspended: true }))).toBe(true);
    expect(isDenyChange(wire('person', 'delete', ''))).toBe(true);
    expect(isDenyChange(wire('code_revocation', 'upsert', { serial: 'oc-aaaaaaaaaaaa' }))).toBe(true);
    expect(isDenyChange(wire('credential', 'upsert', { revoked: false }))).toBe(false);
    expect(isDenyChange(wire('person', 'upsert', { name: 'A' }))).toBe(false);
    expect(isDenyChange(wire('group', 'delete', ''))).toBe(false);
    expect(isDenyChange(wire('credential', 'upsert', '{"revoked": tru'))).toBe(false);
  });
});
