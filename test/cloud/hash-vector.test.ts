// The hash-chain test vector in docs/cloud-protocol.md is what the code computes, byte for byte, so a
// team verifying the chain in another language can trust the page.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { type WireEvent, WireEventSchema } from '../../hub/cloud/proto.js';
import { canonicalJson } from '../../hub/store/errors.js';
import { eventHash } from '../../hub/store/events.js';

const doc = readFileSync(new URL('../../docs/cloud-protocol.md', import.meta.url), 'utf8');

function vector(): Record<string, string> {
  const start = doc.indexOf('Test vector');
  const block = /```text\n([\s\S]*?)\n```/.exec(doc.slice(start));
  if (start < 0 || !block) throw new Error('no test vector in docs/cloud-protocol.md');
  const fields: Record<string, string> = {};
  for (const line of block[1]!.split('\n')) {
    const match = /^(\w+):\s+(.*)$/.exec(line);
    if (match) fields[match[1]!] = match[2]!;
  }
  return fields;
}

describe('hash chain test vector (docs/cloud-protocol.md)', () => {
  it('the documented canonical JSON and hash are what the hub computes', () => {
    const v = vector();
    const wire = JSON.parse(v['wire']!) as WireEvent;
    const event = {
      seq: wire.seq,
      ts: wire.ts,
      type: wire.type,
      doorId: wire.door_id || null,
      personId: wire.person_id || null,
      credentialId: wire.credential_id || null,
      data: JSON.parse(wire.data_json) as Record<string, unknown>,
    };
    expect(canonicalJson(event)).toBe(v['canonical']);
    expect(eventHash(v['prev_hash']!, event)).toBe(v['hash']);
    // The formula as the page states it: lowercase hex SHA-256 over prev_hash text then UTF-8 canonical JSON.
    const byHand = createHash('sha256')
      .update(Buffer.concat([Buffer.from(v['prev_hash']!, 'ascii'), Buffer.from(v['canonical']!, 'utf8')]))
      .digest('hex');
    expect(byHand).toBe(v['hash']);
    expect(v['hash']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the wire form of the vector is a valid Event message', () => {
    const wire = JSON.parse(vector()['wire']!) as Record<string, unknown>;
    const full = { ...wire, prev_hash: vector()['prev_hash'], hash: vector()['hash'] };
    expect(Compile(WireEventSchema).Check(full)).toBe(true);
  });
});
