// The contract's parsers on their own: every refusal says what was wrong, never echoes a secret.
import { describe, expect, it } from 'vitest';
import {
  parseAvailability,
  parseCredential,
  parseEvent,
  parseState,
  parseTopic,
  salvageRequestId,
} from '../../hub/broker/contract.js';

describe('topics', () => {
  it('parses the contract topics under the base topic and nothing else', () => {
    expect(parseTopic('gatehouse', 'gatehouse/door/front/credential')).toEqual({
      area: 'door',
      doorId: 'front',
      channel: 'credential',
      rest: [],
    });
    expect(parseTopic('gatehouse', 'gatehouse/door/front/sync/cards/1')).toMatchObject({
      channel: 'sync',
      rest: ['cards', '1'],
    });
    expect(parseTopic('gatehouse', 'gatehouse/device/front-reader/availability')).toEqual({
      area: 'device',
      deviceId: 'front-reader',
      channel: 'availability',
    });
    expect(parseTopic('gatehouse', 'gatehouse/bridge/request/unlock')).toEqual({
      area: 'bridge',
      channel: 'request',
      name: 'unlock',
    });
    expect(parseTopic('gatehouse', 'gatehouse/bridge/state')).toEqual({ area: 'bridge', channel: 'state' });
    for (const topic of [
      'other/door/front/credential',
      'gatehouse/door//credential',
      'gatehouse/door/front/credential/extra',
      'gatehouse/door/front/open-sesame',
      'gatehouse/device/x/y/availability',
      'gatehouse',
      'gatehousex/door/front/state',
    ]) {
      expect(parseTopic('gatehouse', topic)).toBeNull();
    }
  });
});

describe('payloads', () => {
  it('accepts a valid credential and canonicalises a card UID to uppercase hex', () => {
    expect(parseCredential('{"id":"1","kind":"card","value":"04a1b2c3","reader":"in"}', 4096)).toEqual({
      ok: true,
      value: { id: '1', kind: 'card', value: '04A1B2C3', reader: 'in' },
    });
  });

  it('accepts card UIDs written with separators, as readers print them', () => {
    for (const value of ['04:a2:2b:1c', '04-A2-2B-1C', '04 a2 2b 1c']) {
      expect(parseCredential(JSON.stringify({ id: '1', kind: 'card', value }), 4096)).toMatchObject({
        ok: true,
        value: { value: '04A22B1C' },
      });
    }
    expect(parseCredential('{"id":"1","kind":"card","value":"not-hex!"}', 4096).ok).toBe(false);
  });

  it('never quotes the payload in an error (it may hold a PIN)', () => {
    const result = parseCredential('{"id":"1","kind":"keypad","value":"482913"x}', 4096);
    expect(result).toEqual({ ok: false, error: expect.stringMatching(/^malformed JSON/) });
    expect(JSON.stringify(result)).not.toContain('482913');
    const typed = parseCredential('{"id":"1","kind":"keypad","value":"48291a"}', 4096);
    expect(JSON.stringify(typed)).not.toContain('48291a');
  });

  it('says which field is wrong and how', () => {
    expect(parseCredential('{"kind":"card","value":"01"}', 4096)).toEqual({
      ok: false,
      error: "invalid credential: missing field 'id'",
    });
    expect(parseCredential('[1,2]', 4096)).toEqual({
      ok: false,
      error: 'invalid credential: payload must be a JSON object',
    });
    expect(parseCredential(`{"id":"${'x'.repeat(65)}","kind":"card","value":"01"}`, 4096)).toEqual({
      ok: false,
      error: "invalid credential: 'id' must not have more than 64 characters",
    });
    expect(parseState('{"lock":"open"}', 4096)).toEqual({
      ok: false,
      error: "invalid state: 'lock' must be one of locked, unlocked",
    });
    expect(parseState('{"tamper":"yes"}', 4096)).toEqual({
      ok: false,
      error: "invalid state: 'tamper' must be boolean",
    });
    expect(parseEvent('{"type":"Door Opened!"}', 4096).ok).toBe(false);
    expect(parseEvent('{"type":"rex","at":1}', 4096)).toEqual({ ok: true, value: { type: 'rex', at: 1 } });
  });

  it('checks the size before parsing', () => {
    const big = `{"id":"1","kind":"mobile","value":"${'a'.repeat(5000)}"}`;
    expect(parseCredential(big, 4096)).toEqual({
      ok: false,
      error: `payload too large: ${big.length} bytes, limit 4096`,
    });
  });

  it('availability is the plain text online or offline', () => {
    expect(parseAvailability(Buffer.from('online'))).toEqual({ ok: true, value: 'online' });
    expect(parseAvailability('{"state":"online"}').ok).toBe(false);
  });

  it('salvages a request id from a broken credential only when it is a valid id', () => {
    expect(salvageRequestId('{"id":"r-7","kind":"retina"}', 4096)).toBe('r-7');
    expect(salvageRequestId('{"id":"r-8","kind":"card",', 4096)).toBe('r-8');
    expect(salvageRequestId(`{"id":"r-9","value":"${'x'.repeat(10_000)}"}`, 4096)).toBe('r-9');
    expect(salvageRequestId('{"id":42}', 4096)).toBeNull();
    expect(salvageRequestId(`{"id":"${'x'.repeat(65)}"}`, 4096)).toBeNull();
    expect(salvageRequestId('garbage', 4096)).toBeNull();
  });
});
