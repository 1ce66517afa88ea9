// Loads gatehouse-cloud.proto at runtime (no codegen) and describes its messages as TypeScript types
// plus TypeBox schemas, so each side validates what it receives before acting on it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';

export const PROTOCOL_VERSION = 1;
export const PROTO_FILE_NAME = 'gatehouse-cloud.proto';

/** Largest data_json of one change (UTF-8 bytes): a real record is a few hundred bytes; larger is rejected. */
export const MAX_CHANGE_DATA_BYTES = 256 * 1024;
/**
 * Largest CloudMessage the hub reads (grpc.max_receive_message_length), announced in Hello. Large enough
 * that a page with a few oversized changes still arrives, so they are rejected one by one and the rest
 * applied; a larger message drops the link (the cloud must split its pages).
 */
export const MAX_CLOUD_MESSAGE_BYTES = 32 * 1024 * 1024;
/** What a cloud may assume when the hub does not announce a limit (the gRPC default). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Changes per message; the rest of a longer page is ignored and asked for again. */
export const MAX_CHANGES_PER_MESSAGE = 10_000;

/** The .proto sits next to this file in the source tree; from dist/ it is found in the source tree. */
export function protoPath(): string {
  const candidates = [
    new URL(`./${PROTO_FILE_NAME}`, import.meta.url),
    new URL(`../../../hub/cloud/${PROTO_FILE_NAME}`, import.meta.url),
  ].map((url) => fileURLToPath(url));
  const found = candidates.find((file) => existsSync(file));
  if (!found) throw new Error(`cannot find ${PROTO_FILE_NAME}; looked in ${candidates.join(', ')}`);
  return found;
}

export type HubLinkClient = grpc.Client & {
  Connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<HubMessage, unknown>;
};
export type HubLinkClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => HubLinkClient;

export interface HubLinkDefinition {
  Client: HubLinkClientConstructor;
  service: grpc.ServiceDefinition;
}

// ------------------------------------------------------------------ message shapes

const U64 = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const I64 = Type.Integer({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER });
const ShortText = Type.String({ maxLength: 256 });

export const WireEventSchema = Type.Object({
  seq: U64,
  ts: I64,
  type: Type.String({ minLength: 1, maxLength: 128 }),
  door_id: ShortText,
  person_id: ShortText,
  credential_id: ShortText,
  data_json: Type.String({ maxLength: 65536 }),
  prev_hash: Type.String({ maxLength: 128 }),
  hash: Type.String({ minLength: 1, maxLength: 128 }),
});
export type WireEvent = Static<typeof WireEventSchema>;
export const checkWireEvent = Compile(WireEventSchema);
/** Events per StoredEvents page the hub reads; a longer page is refused (the cloud must split it). */
export const MAX_EVENTS_PER_PAGE = 10_000;

export const HelloSchema = Type.Object({
  hub_id: Type.String({ minLength: 1, maxLength: 128 }),
  protocol_version: Type.Integer({ minimum: 0 }),
  last_change: U64,
  acked_seq: U64,
  last_seq: U64,
  software: ShortText,
  // Optional so a hand-made Hello (or an older hub's) still passes; protobuf decodes a missing one as 0.
  max_message_bytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
});
export type Hello = Static<typeof HelloSchema>;

export const ChangeAckSchema = Type.Object({
  applied_through: U64,
  rejected: Type.Array(Type.Object({ change_no: U64, reason: Type.String({ maxLength: 1024 }) })),
});
export type ChangeAck = Static<typeof ChangeAckSchema>;

export const CommandResultSchema = Type.Object({
  command_id: Type.String({ maxLength: 128 }),
  ok: Type.Boolean(),
  error: Type.String({ maxLength: 1024 }),
});
export type CommandResult = Static<typeof CommandResultSchema>;

/** The offline doorcode secret handed to the cloud (only over TLS). secret_hex is never logged. */
export const CodeSecretMessageSchema = Type.Object({
  version: Type.Integer({ minimum: 1, maximum: 4294967295 }),
  secret_hex: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  fingerprint: Type.String({ pattern: '^[0-9a-f]{16}$' }),
  time_zone: Type.String({ minLength: 1, maxLength: 64 }),
  daily_mac_digits: Type.Integer({ minimum: 5, maximum: 10 }),
  windowed_mac_digits: Type.Integer({ minimum: 5, maximum: 7 }),
  grace_minutes: Type.Integer({ minimum: 0, maximum: 720 }),
  format_version: Type.Integer({ minimum: 1, maximum: 1 }),
});
export type CodeSecretMessage = Static<typeof CodeSecretMessageSchema>;

export const HubMessageSchema = Type.Union([
  Type.Object({ body: Type.Literal('hello'), hello: HelloSchema }),
  Type.Object({ body: Type.Literal('events'), events: Type.Object({ events: Type.Array(WireEventSchema) }) }),
  Type.Object({ body: Type.Literal('change_ack'), change_ack: ChangeAckSchema }),
  Type.Object({ body: Type.Literal('command_result'), command_result: CommandResultSchema }),
  Type.Object({ body: Type.Literal('ping'), ping: Type.Object({ ts: I64 }) }),
  Type.Object({ body: Type.Literal('changes_request'), changes_request: Type.Object({ after_change: U64 }) }),
  Type.Object({ body: Type.Literal('code_secret'), code_secret: CodeSecretMessageSchema }),
  Type.Object({
    body: Type.Literal('events_request'),
    events_request: Type.Object({ from_seq: U64, through_seq: U64 }),
  }),
]);
export type HubMessage = Static<typeof HubMessageSchema>;

export const CHANGE_KINDS = [
  'person',
  'unit',
  'credential',
  'group',
  'schedule',
  'door',
  'holiday',
  'code_revocation',
  'offline_code',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/**
 * The envelope of a change, checked one change at a time: a bad one is rejected on its own. `kind` and
 * `op` stay open strings here (unknown ones are rejected per change); the size of data_json is checked
 * per change by parseChange (MAX_CHANGE_DATA_BYTES), the message size by the transport.
 */
export const WireChangeSchema = Type.Object({
  change_no: U64,
  based_on_seq: U64,
  kind: Type.String({ maxLength: 64 }),
  op: Type.String({ maxLength: 64 }),
  id: Type.String({ maxLength: 256 }),
  data_json: Type.String(),
  ts: I64,
});
export type WireChange = Static<typeof WireChangeSchema>;
export const checkWireChange = Compile(WireChangeSchema);

export const CommandSchema = Type.Object({
  command_id: Type.String({ minLength: 1, maxLength: 128 }),
  kind: Type.String({ maxLength: 64 }),
  door_id: Type.String({ maxLength: 256 }),
  ms: Type.Integer({ minimum: 0, maximum: 4294967295 }),
  mode: Type.String({ maxLength: 64 }),
  expires_at: I64,
});
export type Command = Static<typeof CommandSchema>;

export const CloudMessageSchema = Type.Union([
  Type.Object({
    body: Type.Literal('welcome'),
    welcome: Type.Object({
      stored_seq: U64,
      latest_change: U64,
      server_time: I64,
      // Optional so an older cloud (or a hand-made message) still passes.
      code_secret_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
      code_secret_fingerprint: Type.Optional(Type.String({ maxLength: 64 })),
      stored_hash: Type.Optional(Type.String({ maxLength: 128 })),
      serves_event_requests: Type.Optional(Type.Boolean()),
    }),
  }),
  Type.Object({
    body: Type.Literal('stored_events'),
    stored_events: Type.Object({
      // Each event is checked by the recovery (checkWireEvent), so a bad one is refused with its seq.
      events: Type.Array(Type.Unknown()),
      last: Type.Boolean(),
      error: Type.String({ maxLength: 4096 }),
    }),
  }),
  Type.Object({ body: Type.Literal('event_ack'), event_ack: Type.Object({ seq: U64 }) }),
  Type.Object({
    body: Type.Literal('changes'),
    changes: Type.Object({
      // Each change is checked on its own (checkWireChange), so one bad change does not drop the page.
      changes: Type.Array(Type.Unknown()),
      snapshot_begin: Type.Boolean(),
      snapshot_end: Type.Boolean(),
    }),
  }),
  Type.Object({ body: Type.Literal('command'), command: CommandSchema }),
  Type.Object({
    body: Type.Literal('pong'),
    // server_time is optional so an older cloud (or a hand-made message) still passes.
    pong: Type.Object({ ts: I64, server_time: Type.Optional(I64) }),
  }),
  Type.Object({
    body: Type.Literal('code_secret_ack'),
    code_secret_ack: Type.Object({
      version: Type.Integer({ minimum: 0, maximum: 4294967295 }),
      fingerprint: Type.String({ maxLength: 64 }),
      ok: Type.Boolean(),
      error: Type.String({ maxLength: 1024 }),
    }),
  }),
  Type.Object({
    body: Type.Literal('error'),
    error: Type.Object({ code: Type.String({ maxLength: 128 }), message: Type.String({ maxLength: 4096 }) }),
  }),
]);
export type CloudMessage = Static<typeof CloudMessageSchema>;

export const checkHubMessage = Compile(HubMessageSchema);
export const checkCloudMessage = Compile(CloudMessageSchema);

/** First few validation problems as one line, for logs and error replies. */
export function describeProblems(errors: ReadonlyArray<{ instancePath: string; message: string }>): string {
  return errors
    .slice(0, 3)
    .map((e) => `${e.instancePath || '/'} ${e.message}`)
    .join('; ');
}

export const AUTH_HEADER = 'authorization';
export const HUB_ID_HEADER = 'x-gatehouse-hub-id';
